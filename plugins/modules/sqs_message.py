#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: sqs_message
short_description: Delete a received SQS message, or change its visibility timeout
version_added: 0.1.0
description:
  - Acknowledges (deletes) an SQS message by its receipt handle once the work it asked for is done, or changes the
    message's visibility timeout (for example V(0) to release it for immediate redelivery).
  - The event source C(octopus.ha.aws_sqs_lifecycle) does not delete lifecycle messages; the handler playbook
    calls this module after it has completed the lifecycle action, which makes the processing at-least-once.
  - Why this module exists. Neither amazon.aws nor community.aws has a module that deletes or releases a single message
    (M(community.aws.sqs_queue) manages queues only), and the AWS CLI is not part of the execution environment.
  - Throttling and server-side errors are retried with jittered exponential backoff.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  queue_url:
    description: URL of the queue.
    type: str
    required: true
  receipt_handle:
    description: Receipt handle from the receive call that returned the message.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the message.
      - V(present) keeps it and sets its visibility timeout to O(visibility_timeout).
    type: str
    choices: [absent, present]
    default: absent
  visibility_timeout:
    description: New visibility timeout in seconds (0-43200) for O(state=present).
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - octopus.ha._octopus.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Sends nothing and reports C(changed=true).
  diff_mode:
    support: none
notes:
  - SQS documents that a delete with a receipt handle that is not the most recent one for the message may succeed without
    deleting it (a message received again gets a new handle). A handler whose message was received again while it ran may
    therefore leave a copy; the event source then hands that copy out later and its handler is a no-op.
  - SQS does not tell whether a delete removed anything; a delete with a receipt handle SQS no longer knows
    (C(ReceiptHandleIsInvalid)) is reported as C(changed=false) with a RV(reason), so re-running is safe.
"""

EXAMPLES = r"""
- name: Acknowledge the lifecycle message after the lifecycle action was completed
  octopus.ha.sqs_message:
    queue_url: "{{ ansible_eda.event.queue_url }}"
    receipt_handle: "{{ ansible_eda.event.receipt_handle }}"
    state: absent

- name: Release the message for immediate redelivery
  octopus.ha.sqs_message:
    queue_url: "{{ ansible_eda.event.queue_url }}"
    receipt_handle: "{{ ansible_eda.event.receipt_handle }}"
    state: present
    visibility_timeout: 0
"""

RETURN = r"""
reason:
  description: Why nothing changed.
  returned: when C(changed) is false
  type: str
  sample: The receipt handle is not valid (message already deleted, or received again since).
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30,
                                  catch_extra_error_codes=['ThrottlingException', 'RequestThrottled', 'ServiceUnavailable', 'InternalError'])
INVALID_HANDLE = ('ReceiptHandleIsInvalid', 'AWS.SimpleQueueService.ReceiptHandleIsInvalid', 'InvalidParameterValue')


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            queue_url=dict(type='str', required=True),
            receipt_handle=dict(type='str', required=True, no_log=False),
            state=dict(type='str', default='absent', choices=['absent', 'present']),
            visibility_timeout=dict(type='int'),
        ),
        required_if=[('state', 'present', ['visibility_timeout'])],
        supports_check_mode=True,
    )
    p = module.params
    if p['visibility_timeout'] is not None and not 0 <= p['visibility_timeout'] <= 43200:
        module.fail_json(msg='visibility_timeout must be between 0 and 43200 seconds.')
    if module.check_mode:
        module.exit_json(changed=True)
    sqs = module.client('sqs', retry_decorator=RETRY)
    ids = dict(QueueUrl=p['queue_url'], ReceiptHandle=p['receipt_handle'])
    try:
        if p['state'] == 'absent':
            sqs.delete_message(aws_retry=True, **ids)
        else:
            sqs.change_message_visibility(VisibilityTimeout=p['visibility_timeout'], aws_retry=True, **ids)
    except is_boto3_error_code(INVALID_HANDLE) as e:
        if e.response['Error']['Code'] == 'InvalidParameterValue' and 'receipt' not in str(e).lower():
            module.fail_json_aws(e, msg='SQS rejected a parameter')
        module.exit_json(changed=False, reason='The receipt handle is not valid (message already deleted, or received again since): %s' % e)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg='Could not %s the SQS message' % ('delete' if p['state'] == 'absent' else 'change the visibility of'))
    module.exit_json(changed=True)


if __name__ == '__main__':
    main()

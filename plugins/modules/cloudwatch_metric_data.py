#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: cloudwatch_metric_data
short_description: Publish data points of CloudWatch custom metrics (PutMetricData)
version_added: 0.2.0
description:
  - Sends the given data points to Amazon CloudWatch with C(PutMetricData), in batches of at most 20 metrics per call
    (the historical per-request limit; AWS now accepts up to 1000 metrics and 1 MB per request, so this works everywhere).
  - Used by the collection to publish the Octopus task queue facts under the C(Octopus/HA) namespace for a target-tracking
    or step scaling policy; see the filter P(octopus.ha.octopus_queue_metric_data#filter) and C(docs/autoscaling.md).
  - Why this module exists. Neither amazon.aws nor community.aws has a module that publishes metric data
    (M(amazon.aws.cloudwatch_metric_alarm) manages alarms).
  - Throttling and server-side errors are retried with jittered exponential backoff. Publishing is not idempotent
    (each run adds data points), so the module always reports C(changed=true) when it sent data.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  namespace:
    description: The metric namespace, for example V(Octopus/HA). Names starting with C(AWS/) are reserved by AWS.
    type: str
    required: true
  dimensions:
    description:
      - Dimensions (name to value) added to every data point, for example the cluster and the Auto Scaling group.
      - A data point's own O(metric_data[].dimensions) win over these. At most 30 dimensions per data point.
    type: dict
    default: {}
  metric_data:
    description: The data points. An empty list sends nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      metric_name:
        description: Name of the metric.
        type: str
        required: true
      value:
        description: The value. Must be a finite number (CloudWatch rejects NaN and infinity).
        type: float
        required: true
      unit:
        description: The unit, one of the CloudWatch standard units.
        type: str
        default: "None"
        choices: [Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes, Bits, Kilobits,
                  Megabits, Gigabits, Terabits, Percent, Count, Bytes/Second, Kilobytes/Second, Megabytes/Second,
                  Gigabytes/Second, Terabytes/Second, Bits/Second, Kilobits/Second, Megabits/Second, Gigabits/Second,
                  Terabits/Second, Count/Second, None]
      timestamp:
        description:
          - When the value was measured, as epoch seconds or an ISO 8601 timestamp (UTC when it has no zone).
          - Defaults to the time CloudWatch receives it. CloudWatch accepts times up to two weeks in the past and two hours
            in the future.
        type: raw
      dimensions:
        description: Dimensions of this data point (name to value).
        type: dict
      storage_resolution:
        description: V(60) for standard resolution, V(1) for high resolution (per-second) storage.
        type: int
        choices: [1, 60]
        default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - octopus.ha._octopus.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Validates the data and returns what would be sent; sends nothing.
  diff_mode:
    support: none
notes:
  - AWS permission used is C(cloudwatch:PutMetricData).
seealso:
  - module: amazon.aws.cloudwatch_metric_alarm
  - module: community.aws.autoscaling_policy
"""

EXAMPLES = r"""
- name: Publish the Octopus queue facts read by octopus_cluster_info
  octopus.ha.cloudwatch_metric_data:
    namespace: Octopus/HA
    dimensions:
      Cluster: octopus-prod
      AutoScalingGroupName: octopus-ha
    metric_data: "{{ cluster.queue | octopus.ha.octopus_queue_metric_data }}"

- name: One data point
  octopus.ha.cloudwatch_metric_data:
    namespace: Octopus/HA
    metric_data:
      - metric_name: QueuedTasks
        value: 4
        unit: Count
        timestamp: "2026-01-01T00:10:00Z"
"""

RETURN = r"""
metric_data:
  description: The data points as sent to (or, in check mode, as they would be sent to) CloudWatch, in the API's shape.
  returned: always
  type: list
  elements: dict
  sample:
    - MetricName: QueuedTasks
      Value: 4.0
      Unit: Count
      Timestamp: "2026-01-01T00:10:00+00:00"
      StorageResolution: 60
      Dimensions: [{"Name": "Cluster", "Value": "octopus-prod"}, {"Name": "AutoScalingGroupName", "Value": "octopus-ha"}]
put_requests:
  description: Number of C(PutMetricData) calls sent (V(0) in check mode).
  returned: always
  type: int
  sample: 1
"""

import datetime
import math

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

BATCH = 20
MAX_DIMENSIONS = 30
RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30,
                                  catch_extra_error_codes=['ThrottlingException', 'InternalServiceError', 'ServiceUnavailable'])


def parse_timestamp(value, name):
    """A timezone-aware datetime from epoch seconds or ISO 8601 text; ValueError with a sentence otherwise."""
    if isinstance(value, bool):
        raise ValueError('%s must be epoch seconds or an ISO 8601 timestamp, got %r.' % (name, value))
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    text = str(value).strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(text[:-1] + '+00:00' if text.endswith(('Z', 'z')) else text)
    except ValueError:
        raise ValueError('%s must be epoch seconds or an ISO 8601 timestamp, got %r.' % (name, value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def build_datum(item, common, index):
    name = 'metric_data[%d]' % index
    value = item['value']
    if value is None or not math.isfinite(value):
        raise ValueError('%s.value must be a finite number, got %r: CloudWatch rejects NaN and infinity.' % (name, value))
    dims = dict((str(k), str(v)) for k, v in (common or {}).items())
    dims.update((str(k), str(v)) for k, v in (item.get('dimensions') or {}).items())
    if len(dims) > MAX_DIMENSIONS:
        raise ValueError('%s has %d dimensions; CloudWatch allows at most %d.' % (name, len(dims), MAX_DIMENSIONS))
    datum = dict(MetricName=item['metric_name'], Value=float(value), Unit=item['unit'],
                 StorageResolution=item['storage_resolution'])
    if dims:
        datum['Dimensions'] = [dict(Name=k, Value=v) for k, v in dims.items()]
    if item.get('timestamp') not in (None, ''):
        datum['Timestamp'] = parse_timestamp(item['timestamp'], name + '.timestamp')
    return datum


def shown(datum):
    """The datum for the result (timestamps as ISO 8601 text)."""
    result = dict(datum)
    if 'Timestamp' in result:
        result['Timestamp'] = result['Timestamp'].isoformat()
    return result


def main():
    datum_spec = dict(
        metric_name=dict(type='str', required=True),
        value=dict(type='float', required=True),
        unit=dict(type='str', default='None', choices=[
            'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits',
            'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second',
            'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second',
            'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None']),
        timestamp=dict(type='raw'),
        dimensions=dict(type='dict'),
        storage_resolution=dict(type='int', default=60, choices=[1, 60]),
    )
    module = AnsibleAWSModule(
        argument_spec=dict(
            namespace=dict(type='str', required=True),
            dimensions=dict(type='dict', default={}),
            metric_data=dict(type='list', elements='dict', required=True, options=datum_spec),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p['namespace'].strip() or p['namespace'].startswith('AWS/'):
        module.fail_json(msg='namespace %r cannot be used: it must not be empty, and names starting with AWS/ are reserved '
                             'by AWS. Use your own namespace, for example Octopus/HA.' % p['namespace'])
    try:
        data = [build_datum(item, p['dimensions'], n) for n, item in enumerate(p['metric_data'])]
    except ValueError as e:
        module.fail_json(msg='Could not publish the metric data: %s' % e)
    if module.check_mode or not data:
        module.exit_json(changed=bool(data), metric_data=[shown(d) for d in data], put_requests=0)
    cloudwatch = module.client('cloudwatch', retry_decorator=RETRY)
    sent = 0
    for start in range(0, len(data), BATCH):
        try:
            cloudwatch.put_metric_data(Namespace=p['namespace'], MetricData=data[start:start + BATCH], aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg='Could not publish metric data to namespace %s (%d of %d data points were sent)'
                                 % (p['namespace'], start, len(data)), put_requests=sent)
        sent += 1
    module.exit_json(changed=True, metric_data=[shown(d) for d in data], put_requests=sent)


if __name__ == '__main__':
    main()

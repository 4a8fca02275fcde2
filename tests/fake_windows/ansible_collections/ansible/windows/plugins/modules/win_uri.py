# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_uri: a real HTTP request sent from the controller.

In tests the "node's own URL" is the simulator's ``/node/<name>`` prefix, so the request really
reaches octosim. The fake host state only records the call.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import time
from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh

JSON_CANDIDATES = re.compile('text|json|javascript', re.IGNORECASE)


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    body=dict(type='raw'),
    client_cert=dict(type='str'),
    client_cert_password=dict(type='str', no_log=True),
    content_type=dict(type='str'),
    creates=dict(type='path'),
    dest=dict(type='path'),
    follow_redirects=dict(type='str', default='safe', choices=['all', 'none', 'safe']),
    force_basic_auth=dict(type='bool', default=False),
    headers=dict(type='dict'),
    http_agent=dict(type='str', default='ansible-httpget'),
    maximum_redirection=dict(type='int', default=50),
    proxy_password=dict(type='str', no_log=True),
    proxy_url=dict(type='str'),
    proxy_use_default_credential=dict(type='bool', default=False),
    proxy_username=dict(type='str'),
    removes=dict(type='path'),
    return_content=dict(type='bool', default=False),
    status_code=dict(type='list', default=[200], elements='int'),
    url=dict(type='str', required=True),
    url_method=dict(type='str', default='GET', aliases=['method']),
    url_password=dict(type='str', no_log=True),
    url_timeout=dict(type='int', default=30, aliases=['timeout']),
    url_username=dict(type='str'),
    use_default_credential=dict(type='bool', default=False),
    use_proxy=dict(type='bool', default=True),
    validate_certs=dict(type='bool', default=True),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'body', 'content_type', 'creates', 'dest', 'follow_redirects', 'headers', 'url_method', 'removes',
    'return_content', 'status_code', 'url', 'url_password', 'url_timeout', 'url_username', 'validate_certs',
])


def handler(module, data):
    p = module.params
    start = time.time()
    method = p['url_method'].upper()
    result = {'changed': False, 'url': p['url']}
    if module.check_mode and method not in ('GET', 'HEAD'):
        result['changed'] = True
        return result
    body = p['body']
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    headers = dict(p['headers'] or {})
    if p['content_type']:
        headers['Content-Type'] = p['content_type']
    try:
        resp = open_url(p['url'], method=method, data=body, headers=headers, timeout=p['url_timeout'],
                        validate_certs=p['validate_certs'], follow_redirects=p['follow_redirects'],
                        url_username=p['url_username'], url_password=p['url_password'])
        status, reason, raw = resp.getcode(), getattr(resp, 'reason', 'OK'), resp.read()
        content_type = resp.headers.get('Content-Type')
    except HTTPError as exc:
        status, reason, raw = exc.code, exc.reason, exc.read() if exc.fp else b''
        content_type = exc.headers.get('Content-Type') if exc.headers else None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        result['elapsed'] = round(time.time() - start, 3)
        raise fh.FakeHostError('Unhandled exception occurred when sending web request. Exception: %s' % exc, **result)
    text = raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else raw
    result.update(status_code=status, status_description=reason, content_length=len(raw or b''),
                  elapsed=round(time.time() - start, 3), changed=method not in ('GET', 'HEAD'))
    if content_type is not None:
        result['content_type'] = content_type
    if p['return_content']:
        result['content'] = text
        # As the real module: JSON is parsed only for content types that match text, json or javascript.
        if content_type and JSON_CANDIDATES.search(content_type):
            try:
                result['json'] = json.loads(text)
            except ValueError:
                pass
    if status not in p['status_code']:
        raise fh.FakeHostError('Status code of request \'%d\' is not in list of valid status codes %s : %s.'
                               % (status, p['status_code'], reason), **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_uri', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()

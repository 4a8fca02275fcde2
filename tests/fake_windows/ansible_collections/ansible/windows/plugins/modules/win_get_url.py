# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_get_url: "downloads" from a local mapping directory.

URL resolution: ``$OCTOHA_FAKE_DOWNLOADS_DIR/urls.json`` (``{url: local path}``), then the URL's last
path segment inside ``$OCTOHA_FAKE_DOWNLOADS_DIR``; otherwise the download fails with status 404.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


def resolve(url):
    root = os.environ.get(fh.ENV_DOWNLOADS) or os.path.join(fh.state_root(), 'downloads')
    mapping = os.path.join(root, 'urls.json')
    if os.path.exists(mapping):
        with open(mapping) as handle:
            target = json.load(handle).get(url)
        if target:
            return target if os.path.isabs(target) else os.path.join(root, target)
    name = url.split('?')[0].rstrip('/').rsplit('/', 1)[-1]
    candidate = os.path.join(root, name)
    if name and os.path.isfile(candidate):
        return candidate
    return None


def handler(module, data):
    start = time.time()
    url = module.params['url']
    dest = module.params['dest']
    algo = module.params['checksum_algorithm']
    result = {'changed': False, 'url': url, 'dest': dest, 'elapsed': 0.0}
    if not url.lower().startswith(('http://', 'https://', 'ftp://', 'file://')):
        raise fh.FakeHostError('Invalid URL %s' % url, **result)
    entry = fh.get_file(data, dest)
    if entry is not None and entry.get('isdir'):
        dest = dest.rstrip('\\/') + '\\' + url.split('?')[0].rstrip('/').rsplit('/', 1)[-1]
        result['dest'] = dest
        entry = fh.get_file(data, dest)
    if fh.get_file(data, fh.parent_path(dest)) is None:
        raise fh.FakeHostError("The path '%s' does not exist (the parent folder of dest)" % fh.parent_path(dest), **result)
    wanted = (module.params['checksum'] or '').lower() or None
    if entry is not None:
        current = fh.file_checksum(entry, algo)
        result['checksum_dest'] = current
        if not module.params['force'] or (wanted and current == wanted):
            result['msg'] = 'file already exists'
            result['status_code'] = 200
            result['size'] = entry.get('size')
            return result
    local = resolve(url)
    if local is None:
        raise fh.FakeHostError('Error downloading %s to %s: The remote server returned an error: (404) Not Found.'
                               % (url, dest), status_code=404, **result)
    with open(local, 'rb') as handle:
        raw = handle.read()
    src_sum = hashlib.new(algo, raw).hexdigest()
    result.update(checksum_src=src_sum, status_code=200, msg='OK', size=len(raw))
    if wanted and src_sum != wanted:
        raise fh.FakeHostError('The checksum for %s did not match %s, it was %s' % (url, wanted, src_sum), **result)
    if entry is not None and fh.file_checksum(entry, algo) == src_sum:
        result['msg'] = 'file already exists'
        return result
    new = fh.put_file(data, dest, raw)
    data['downloads'].append({'url': url, 'dest': dest, 'sha256': new['sha256'], 'size': new['size'], 'time': fh.now()})
    result.update(changed=True, checksum_dest=src_sum, elapsed=round(time.time() - start, 3))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            dest=dict(type='path', required=True),
            force=dict(type='bool', default=True),
            checksum=dict(type='str'),
            checksum_algorithm=dict(type='str', default='sha1', choices=['md5', 'sha1', 'sha256', 'sha384', 'sha512']),
            checksum_url=dict(type='str'),
            url_method=dict(type='str', aliases=['method']),
            url_timeout=dict(type='int', default=30, aliases=['timeout']),
            validate_certs=dict(type='bool', default=True),
            headers=dict(type='dict'),
        ),
        mutually_exclusive=[['checksum', 'checksum_url']],
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_get_url', handler)


if __name__ == '__main__':
    main()

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


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    checksum=dict(type='str'),
    checksum_algorithm=dict(type='str', default='sha1', choices=['md5', 'sha1', 'sha256', 'sha384', 'sha512']),
    checksum_url=dict(type='str'),
    client_cert=dict(type='str'),
    client_cert_password=dict(type='str', no_log=True),
    dest=dict(type='path', required=True),
    follow_redirects=dict(type='str', default='safe', choices=['all', 'none', 'safe']),
    force=dict(type='bool', default=True),
    force_basic_auth=dict(type='bool', default=False),
    headers=dict(type='dict'),
    http_agent=dict(type='str', default='ansible-httpget'),
    maximum_redirection=dict(type='int', default=50),
    proxy_password=dict(type='str', no_log=True),
    proxy_url=dict(type='str'),
    proxy_use_default_credential=dict(type='bool', default=False),
    proxy_username=dict(type='str'),
    url=dict(type='str', required=True),
    url_method=dict(type='str', aliases=['method']),
    url_password=dict(type='str', no_log=True),
    url_timeout=dict(type='int', default=30, aliases=['timeout']),
    url_username=dict(type='str'),
    use_default_credential=dict(type='bool', default=False),
    use_proxy=dict(type='bool', default=True),
    validate_certs=dict(type='bool', default=True),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'checksum', 'checksum_algorithm', 'checksum_url', 'dest', 'force', 'headers', 'url', 'url_method',
    'url_timeout', 'validate_certs',
])


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


def _fetch(data, url, dest, replaced):
    """One transfer of the whole file (what costs ~300 MB for an Octopus MSI); logged in ``fetches``."""
    local = resolve(url)
    if local is None:
        raise fh.FakeHostError('Error downloading %s to %s: The remote server returned an error: (404) Not Found.'
                               % (url, dest), status_code=404)
    with open(local, 'rb') as handle:
        raw = handle.read()
    data['fetches'].append({'url': url, 'dest': dest, 'replaced': replaced, 'time': fh.now()})
    return raw


def handler(module, data):
    """As the real module: with a checksum that the file on disk matches and force=false, nothing is
    fetched; force=true fetches the whole file every time (and then keeps the old one if it is the
    same); force=false without a checksum compares the Last-Modified date (no transfer when equal)."""
    start = time.time()
    url = module.params['url']
    dest = module.params['dest']
    algo = module.params['checksum_algorithm']
    force = module.params['force']
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
    wanted = (module.params['checksum'] or '').strip().lower() or None
    current = fh.file_checksum(entry, algo) if entry is not None else None
    if wanted and current and current != wanted:
        force = True   # the file on disk does not match: fetch it again
    if current and wanted and current == wanted and not force:
        result.update(msg='file already exists', status_code=200, size=entry.get('size'), checksum_dest=current)
        return result
    if not force and entry is not None:
        # Last-Modified check (a HEAD request): same content -> same date in this fake.
        local = resolve(url)
        if local is not None:
            with open(local, 'rb') as handle:
                if hashlib.new(algo, handle.read()).hexdigest() == current:
                    result.update(msg='file already exists', status_code=200, size=entry.get('size'), checksum_dest=current)
                    return result
    try:
        raw = _fetch(data, url, dest, entry is not None)
    except fh.FakeHostError as exc:
        raise fh.FakeHostError(exc.msg, **dict(result, **exc.result))
    src_sum = hashlib.new(algo, raw).hexdigest()
    result.update(checksum_src=src_sum, status_code=200, msg='OK', size=len(raw))
    if wanted and src_sum != wanted:
        raise fh.FakeHostError('The checksum for %s did not match %s, it was %s' % (url, wanted, src_sum), **result)
    if current == src_sum:
        result.update(msg='file already exists', checksum_dest=current)
        return result
    new = fh.put_file(data, dest, raw)
    data['downloads'].append({'url': url, 'dest': dest, 'sha256': new['sha256'], 'size': new['size'], 'time': fh.now()})
    result.update(changed=True, checksum_dest=src_sum, elapsed=round(time.time() - start, 3))
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[['checksum', 'checksum_url']],
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_get_url', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: octopus_dependencies_info
short_description: Read what a new Octopus Deploy Server node must be able to reach
version_added: 0.1.0
description:
  - Reads from the Octopus API what a new Octopus Server HA node depends on, so that the node can be
    checked before it takes any work.
  - The server version comes from the anonymous root document (C(GET /api)).
  - The shared folders come from C(/api/configuration/server-folders/values).
  - The deployment targets (C(/api/<space>/machines)), workers (C(/api/<space>/workers)) and feeds
    (C(/api/<space>/feeds)) of every space (or of the spaces in O(spaces)) are read page by page.
  - The multi-node polling status comes from C(/api/serverstatus/redis). Servers without that endpoint
    (HTTP 404) give V(null).
  - An API key that cannot read the shared folders, the multi-node polling status or the feeds (HTTP 403)
    gives a warning that names the missing permission, and the value is V(null). An API key that cannot
    read the spaces, targets or workers makes the module fail, because nothing can be verified without them.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  spaces:
    description:
      - Ids of the spaces to read (for example V(Spaces-1)), compared case-insensitively.
      - An id that matches no space is an error.
      - Empty or not set means every space.
    type: list
    elements: str
    default: []
  include_targets:
    description: Whether to read the deployment targets and workers of the spaces (RV(targets)).
    type: bool
    default: true
  include_feeds:
    description: Whether to read the feeds of the spaces (RV(feeds)).
    type: bool
    default: true
extends_documentation_fragment:
  - octopus.ha._octopus
  - octopus.ha._octopus.info_module
  - octopus.ha._octopus.actiongroup_octopus
notes:
  - The API key needs C(SpaceView), C(MachineView) and C(WorkerView). C(FeedView) is needed for the feeds, and
    C(AdministerSystem) for the shared folders and the multi-node polling status.
seealso:
  - module: octopus.ha.octopus_cluster_info
  - name: Octopus High Availability
    description: What every Octopus Server node of a cluster must reach.
    link: https://octopus.com/docs/administration/high-availability
"""

EXAMPLES = r"""
- name: Read what a new node must reach
  octopus.ha.octopus_dependencies_info:
    url: https://octopus.example.com
    api_key: "{{ octopus_api_key }}"
  register: deps
  delegate_to: localhost

- name: Show the listening Tentacles
  ansible.builtin.debug:
    msg: "{{ deps.targets | selectattr('communication_style', 'equalto', 'TentaclePassive') | map(attribute='uri') | list }}"

- name: Read only the targets and workers of two spaces, with the connection from module_defaults
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ lookup('ansible.builtin.env', 'OCTOPUS_URL') }}"
      api_key: "{{ lookup('ansible.builtin.env', 'OCTOPUS_API_KEY') }}"
  block:
    - name: Read two spaces without their feeds
      octopus.ha.octopus_dependencies_info:
        spaces: [Spaces-1, Spaces-2]
        include_feeds: false
      register: deps2
"""

RETURN = r"""
server:
  description: Facts from the anonymous root document.
  returned: success
  type: dict
  contains:
    version:
      description: Server version from C(GET /api).
      type: str
      sample: 2023.4.8319
shared_folders:
  description:
    - The shared folders, C(*Directory) name to path. Only non-empty string values are returned.
    - V(null) when the folders could not be read (HTTP 403 or 404; a warning says why).
  returned: success
  type: dict
  sample: {"ArtifactsDirectory": "\\\\fileserver\\octopus\\Artifacts", "LogsDirectory": "\\\\fileserver\\octopus\\TaskLogs"}
spaces:
  description: The spaces read, in the order the server lists them.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Space id.
      type: str
      sample: Spaces-1
    name:
      description: Space name.
      type: str
      sample: Default
  sample: [{"id": "Spaces-1", "name": "Default"}]
targets:
  description:
    - The deployment targets and then the workers of every space read, space by space.
    - Each endpoint field is taken from C(Endpoint), else from the top level of the resource; V(null) when neither is set.
  returned: when O(include_targets=true)
  type: list
  elements: dict
  contains:
    id:
      description: Machine or worker id.
      type: str
      sample: Machines-1
    name:
      description: Machine or worker name.
      type: str
      sample: web-01
    space_id:
      description: Id of the space the machine belongs to.
      type: str
      sample: Spaces-1
    kind:
      description: Whether it is a deployment target or a worker.
      type: str
      choices: [target, worker]
      sample: target
    communication_style:
      description: C(Endpoint.CommunicationStyle), for example V(TentaclePassive) (listening) or V(TentacleActive) (polling).
      type: str
      sample: TentaclePassive
    uri:
      description: C(Endpoint.Uri), else C(Uri).
      type: str
      sample: https://web-01.example.com:10933/
    thumbprint:
      description: C(Endpoint.Thumbprint), else C(Thumbprint).
      type: str
      sample: 8E4A1C2B3D4E5F60718293A4B5C6D7E8F9012345
    is_disabled:
      description: Whether the machine is disabled.
      type: bool
      sample: false
  sample:
    - {"id": "Machines-1", "name": "web-01", "space_id": "Spaces-1", "kind": "target", "communication_style": "TentaclePassive",
       "uri": "https://web-01.example.com:10933/", "thumbprint": "8E4A1C2B3D4E5F60718293A4B5C6D7E8F9012345", "is_disabled": false}
feeds:
  description:
    - The feeds of every space read, space by space.
    - V(null) when the feeds of no space could be read (HTTP 403; a warning names the spaces).
  returned: when O(include_feeds=true)
  type: list
  elements: dict
  contains:
    id:
      description: Feed id.
      type: str
      sample: Feeds-1
    name:
      description: Feed name.
      type: str
      sample: nuget.org
    space_id:
      description: Id of the space the feed belongs to.
      type: str
      sample: Spaces-1
    feed_type:
      description: C(FeedType) of the feed.
      type: str
      sample: NuGet
    uri:
      description: C(FeedUri). V(null) when the feed has none, as for the built-in repository.
      type: str
      sample: https://api.nuget.org/v3/index.json
  sample: [{"id": "Feeds-1", "name": "nuget.org", "space_id": "Spaces-1", "feed_type": "NuGet", "uri": "https://api.nuget.org/v3/index.json"}]
multi_node_polling:
  description:
    - Multi-node polling over Redis as C(/api/serverstatus/redis) reports it.
    - V(null) when the server has no such endpoint (HTTP 404, older servers) or the key cannot read it (HTTP 403, with a warning).
  returned: success
  type: dict
  contains:
    enabled:
      description: C(IsEnabled).
      type: bool
      sample: true
    configured:
      description: C(IsConfigured).
      type: bool
      sample: true
    reachable:
      description: C(IsReachable).
      type: bool
      sample: true
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import (
    PERMISSION_RE, OctopusApiError, OctopusClient, fail_from_exception, octopus_argument_spec)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import seg

FOLDERS_PATH = 'configuration/server-folders/values'
REDIS_PATH = 'serverstatus/redis'
SPACES_PATH = 'spaces'
PAGE_SIZE = 100
DIRECTORY_RE = re.compile(r'^[A-Za-z]+Directory$')
TARGET_KINDS = (('machines', 'target', 'deployment targets'), ('workers', 'worker', 'workers'))


def missing_permission(err, default):
    """The permission named in a 403 body ('Missing permission: X'), else the documented one."""
    message = err.body.get('ErrorMessage') if isinstance(err.body, dict) else None
    match = PERMISSION_RE.search(message or '')
    return match.group(1) if match else default


def read_folders(client, warn):
    try:
        values = client.get(FOLDERS_PATH, action='read the shared server folders (/api/%s)' % FOLDERS_PATH)
    except OctopusApiError as err:
        if err.status not in (403, 404):
            raise
        need = missing_permission(err, 'AdministerSystem') if err.status == 403 else None
        warn('Could not read the shared server folders (/api/%s), so shared_folders is null and no shared storage can be '
             'checked%s: %s' % (FOLDERS_PATH, ': the API key needs %s' % need if need else '', err))
        return None
    values = values if isinstance(values, dict) else {}
    return dict((k, v) for k, v in sorted(values.items())
                if DIRECTORY_RE.match(str(k)) and isinstance(v, str) and v.strip())


def read_redis(client, warn):
    try:
        status = client.get(REDIS_PATH, allow_404=True, action='read the multi-node polling status (/api/%s)' % REDIS_PATH)
    except OctopusApiError as err:
        if err.status != 403:
            raise
        warn('Could not read the multi-node polling status (/api/%s), so multi_node_polling is null: the API key needs %s: %s'
             % (REDIS_PATH, missing_permission(err, 'AdministerSystem'), err))
        return None
    if not isinstance(status, dict):
        return None
    return dict(enabled=status.get('IsEnabled'), configured=status.get('IsConfigured'), reachable=status.get('IsReachable'))


def select_spaces(client, wanted):
    action = 'list the spaces (the deployment targets, workers and feeds are read per space)'
    spaces = [dict(id=s.get('Id'), name=s.get('Name'))
              for s in client.get_all(SPACES_PATH, action=action, page_size=PAGE_SIZE) if isinstance(s, dict)]
    wanted = [str(w).strip() for w in wanted or [] if str(w).strip()]
    if not wanted:
        return spaces
    keys = set(w.lower() for w in wanted)
    unknown = sorted(w for w in wanted if w.lower() not in set(str(s['id']).lower() for s in spaces))
    if unknown:
        raise ValueError('The spaces option names spaces that the Octopus server does not list: %s. Use the ids of existing '
                         'spaces (%s), or leave spaces empty to read every space.'
                         % (', '.join(unknown), ', '.join('%s (%s)' % (s['id'], s['name']) for s in spaces) or 'none'))
    return [s for s in spaces if str(s['id']).lower() in keys]


def first(*values):
    """The first value that is set and not empty, else None."""
    return next((v for v in values if v not in (None, '')), None)


def describe_machine(item, space_id, kind):
    endpoint = item.get('Endpoint') if isinstance(item.get('Endpoint'), dict) else {}
    return dict(
        id=item.get('Id'), name=item.get('Name'), space_id=item.get('SpaceId') or space_id, kind=kind,
        communication_style=first(endpoint.get('CommunicationStyle'), item.get('CommunicationStyle')),
        uri=first(endpoint.get('Uri'), item.get('Uri')),
        thumbprint=first(endpoint.get('Thumbprint'), item.get('Thumbprint')),
        is_disabled=bool(item.get('IsDisabled')),
    )


def read_targets(client, spaces):
    targets = []
    for space in spaces:
        for collection, kind, what in TARGET_KINDS:
            items = client.get_all('%s/%s' % (seg(space['id']), collection), page_size=PAGE_SIZE,
                                   action='list the %s of space %s (%s)' % (what, space['id'], space['name']))
            targets.extend(describe_machine(i, space['id'], kind) for i in items if isinstance(i, dict))
    return targets


def read_feeds(client, spaces, warn):
    feeds, forbidden = [], []
    for space in spaces:
        try:
            items = client.get_all('%s/feeds' % seg(space['id']), page_size=PAGE_SIZE,
                                   action='list the feeds of space %s (%s)' % (space['id'], space['name']))
        except OctopusApiError as err:
            if err.status != 403:
                raise
            forbidden.append((space, missing_permission(err, 'FeedView')))
            continue
        feeds.extend(dict(id=i.get('Id'), name=i.get('Name'), space_id=i.get('SpaceId') or space['id'],
                          feed_type=i.get('FeedType'), uri=first(i.get('FeedUri')))
                     for i in items if isinstance(i, dict))
    if forbidden:
        needs = sorted(set(p for _s, p in forbidden))
        warn('Could not read the feeds of space%s %s (HTTP 403): the API key needs %s there, so %s. Grant the service account '
             'a team role that includes it.'
             % ('s' if len(forbidden) > 1 else '', ', '.join('%s (%s)' % (s['id'], s['name']) for s, _p in forbidden),
                ' and '.join(needs),
                'feeds is null' if len(forbidden) == len(spaces) else 'those feeds are missing from feeds'))
        if len(forbidden) == len(spaces):
            return None
    return feeds


def gather(client, params, warn):
    root = client.root()
    result = dict(changed=False, server=dict(version=root.get('Version') if isinstance(root, dict) else None))
    result['shared_folders'] = read_folders(client, warn)
    result['multi_node_polling'] = read_redis(client, warn)
    spaces = select_spaces(client, params['spaces'])
    result['spaces'] = spaces
    if params['include_targets']:
        result['targets'] = read_targets(client, spaces)
    if params['include_feeds']:
        result['feeds'] = read_feeds(client, spaces, warn)
    return result


def main():
    module = AnsibleModule(
        argument_spec=octopus_argument_spec(
            spaces=dict(type='list', elements='str', default=[]),
            include_targets=dict(type='bool', default=True),
            include_feeds=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    try:
        client = OctopusClient.from_module(module)
        module.exit_json(**gather(client, module.params, module.warn))
    except (OctopusApiError, LookupError, ValueError) as err:
        fail_from_exception(module, err)


if __name__ == '__main__':
    main()

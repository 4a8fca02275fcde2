# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated Octopus REST API (REFERENCE.md sections 1-4)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
from urllib.parse import urlencode

from octosim.config import TASK_STATES
from octosim.model import ACTIVE_STATES, RUNNING_STATES, SimError
from octosim.timeutil import iso

HELP_TEXT_403 = ('No more information is available. Check that the API key belongs to a user or service account '
                 'in a team with a role that grants the permission.')
HELP_TEXT_401 = 'Provide a valid API key in the X-Octopus-ApiKey header.'

ANONYMOUS = ()
SPACE_ID_RE = re.compile(r'^Spaces-\d+$', re.IGNORECASE)


class Request:
    """What a handler needs to know about one API request."""

    def __init__(self, method, path, query, body, node, key_info, raw_query=''):
        self.method = method
        self.path = path            # always starts with /api
        self.query = query          # lower-cased name -> list of values
        self.body = body
        self.node = node            # the serving Node (may be None)
        self.key_info = key_info    # dict or None
        self.raw_query = raw_query
        self.original_names = {}    # lower-cased name -> name as sent
        self.space = None           # space record when the path was space-scoped

    def param(self, name, default=None):
        values = self.query.get(name.lower())
        if not values:
            return default
        return values[-1]

    def list_param(self, name):
        values = self.query.get(name.lower()) or []
        result = []
        for value in values:
            result.extend(v.strip() for v in value.split(',') if v.strip())
        return result

    def bool_param(self, name):
        value = self.param(name)
        if value is None or value == '':
            return None
        lowered = value.strip().lower()
        if lowered in ('true', '1'):
            return True
        if lowered in ('false', '0'):
            return False
        raise SimError(400, 'The value %r is not valid for %s.' % (value, name))

    def int_param(self, name, default):
        value = self.param(name)
        if value is None or value == '':
            return default
        try:
            number = int(value)
        except ValueError:
            raise SimError(400, 'The value %r is not valid for %s.' % (value, name))
        if number < 0:
            raise SimError(400, 'The value %r is not valid for %s.' % (value, name))
        return number


def error_body(message, errors=None, help_text=None, details=None):
    body = {'ErrorMessage': message, 'Errors': list(errors or [])}
    if help_text is not None:
        body['HelpText'] = help_text
    if details is not None:
        body['Details'] = details
    return body


def forbidden(permission):
    return SimError(403, 'You do not have permission to perform this action. Please contact your Octopus administrator. '
                         'Missing permission: %s' % permission, help_text=HELP_TEXT_403)


def paged(req, item_type, items, base_path, template, render=None):
    """The Octopus ResourceCollection shape with skip/take paging and Page.* links.

    render (optional) turns the items of the page into resources (only the page is rendered).
    """
    skip = req.int_param('skip', 0)
    take = req.int_param('take', 30)
    total = len(items)
    page_items = items[skip:skip + take] if take > 0 else []
    if render is not None:
        page_items = [render(item) for item in page_items]
    pages = max(1, int(math.ceil(total / float(take)))) if take > 0 else 1
    keep = []
    for name, values in sorted(req.query.items()):
        if name in ('skip', 'take', 'apikey'):
            continue
        for value in values:
            keep.append((req.original_names.get(name, name), value))

    def link(skip_value, take_value=take):
        params = list(keep)
        params.append(('skip', skip_value))
        params.append(('take', take_value))
        return '%s?%s' % (base_path, urlencode(params))

    links = {
        'Self': '%s%s' % (base_path, ('?' + urlencode(keep)) if keep else ''),
        'Template': template,
        'Page.All': link(0, 2147483647),
        'Page.Current': link(skip),
    }
    if take > 0 and skip + take < total:
        links['Page.Next'] = link(skip + take)
    if skip > 0 and take > 0:
        links['Page.Previous'] = link(max(0, skip - take))
    if take > 0:
        for number in range(min(pages, 100)):
            links['Page.%d' % number] = link(number * take)
    return {
        'ItemType': item_type,
        'TotalResults': total,
        'ItemsPerPage': take,
        'NumberOfPages': pages,
        'LastPageNumber': pages - 1,
        'Items': page_items,
        'Links': links,
        'IsStale': False,
    }


class Route:
    def __init__(self, method, pattern, handler, permission, scoped=False):
        self.method = method
        self.regex = re.compile('^' + pattern + '/?$', re.IGNORECASE)
        self.handler = handler
        self.permission = permission  # () anonymous, else a tuple: any one of them is enough
        self.scoped = scoped          # also reachable under /api/{spaceId}/ and /api/spaces/{spaceId}/


class OctopusApi:
    """Dispatches /api requests against a Cluster. The caller holds cluster.lock and has synced."""

    def __init__(self, cluster):
        self.cluster = cluster
        node_read = 'NODE_READ'
        self.routes = [
            Route('GET', '/api', self.root, ANONYMOUS),
            Route('GET', '/api/octopusservernodes', self.nodes_list, node_read),
            Route('GET', '/api/octopusservernodes/all', self.nodes_all, node_read),
            Route('GET', '/api/octopusservernodes/summary', self.nodes_summary, node_read),
            Route('GET', '/api/octopusservernodes/ping', self.nodes_ping, ANONYMOUS),
            Route('GET', '/api/octopusservernodes/(?P<id>[^/]+)/details', self.node_details, node_read),
            Route('GET', '/api/octopusservernodes/(?P<id>[^/]+)', self.node_get, node_read),
            Route('PUT', '/api/octopusservernodes/(?P<id>[^/]+)', self.node_put, ('AdministerSystem',)),
            Route('DELETE', '/api/octopusservernodes/(?P<id>[^/]+)', self.node_delete, ('AdministerSystem',)),
            Route('GET', '/api/serverstatus/health', self.health, ANONYMOUS),
            Route('GET', '/api/serverstatus', self.server_status, ('AdministerSystem',)),
            Route('GET', '/api/maintenanceconfiguration', self.maintenance_get, ('AdministerSystem',)),
            Route('PUT', '/api/maintenanceconfiguration', self.maintenance_put, ('AdministerSystem',)),
            Route('GET', '/api/licenses/licenses-current-status', self.license_status, ('AdministerSystem',)),
            Route('GET', '/api/configuration/server-folders/values', self.server_folders, ('AdministerSystem',)),
            Route('GET', '/api/spaces', self.spaces_list, ('SpaceView',)),
            Route('GET', '/api/spaces/all', self.spaces_all, ('SpaceView',)),
            Route('GET', '/api/spaces/(?P<id>[^/]+)', self.space_get, ('SpaceView',)),
            Route('GET', '/api/tasks', self.tasks_list, ('TaskView',), scoped=True),
            Route('POST', '/api/tasks', self.task_create, ('TaskCreate',), scoped=True),
            Route('GET', '/api/tasks/(?P<id>[^/]+)', self.task_get, ('TaskView',), scoped=True),
            Route('GET', '/api/tasks/(?P<id>[^/]+)/details', self.task_details, ('TaskView',), scoped=True),
            Route('POST', '/api/tasks/(?P<id>[^/]+)/cancel', self.task_cancel, ('TaskCancel',), scoped=True),
        ]
        for kind, perm in (('machines', 'MachineView'), ('workers', 'WorkerView'), ('feeds', 'FeedView'),
                           ('accounts', 'AccountView')):
            self.routes.append(Route('GET', '/api/%s' % kind, self._make_list(kind), (perm,), scoped=True))
            self.routes.append(Route('GET', '/api/%s/all' % kind, self._make_all(kind), (perm,), scoped=True))
            self.routes.append(Route('GET', '/api/%s/(?P<id>[^/]+)' % kind, self._make_get(kind), (perm,), scoped=True))

    # ------------------------------------------------------------------ dispatch
    def split_space(self, path):
        """('/api/Spaces-1/tasks/x' | '/api/spaces/Spaces-1/tasks/x') -> ('Spaces-1', '/api/tasks/x')."""
        match = re.match(r'^/api/spaces/([^/]+)(/.+)$', path, re.IGNORECASE)
        if match and match.group(2).strip('/'):
            return match.group(1), '/api' + match.group(2)
        match = re.match(r'^/api/([^/]+)(/.*)?$', path)
        if match and (SPACE_ID_RE.match(match.group(1)) or self._is_space_id(match.group(1))):
            return match.group(1), '/api' + (match.group(2) or '')
        return None, path

    def _is_space_id(self, ident):
        return any(s['Id'].lower() == ident.lower() for s in self.cluster.spaces)

    def dispatch(self, req):
        """Returns (status, body). Raises SimError for errors."""
        space_ident, path = self.split_space(req.path)
        if space_ident is not None:
            space = self.cluster.find_space(space_ident)
            if space is None:
                raise SimError(404, 'The space %s was not found.' % space_ident)
            if path.rstrip('/') == '/api':
                return self.space_home(req, space)
            req.space = space
        allowed = []
        for route in self.routes:
            match = route.regex.match(path)
            if not match:
                continue
            if space_ident is not None and not route.scoped:
                continue
            allowed.append(route.method)
            if route.method != req.method:
                continue
            self.authorize(req, route.permission)
            return route.handler(req, **match.groupdict())
        if allowed:
            raise SimError(405, 'The method %s is not allowed on %s.' % (req.method, req.path))
        raise SimError(404, 'The resource you requested was not found: %s' % req.path)

    def authorize(self, req, permission):
        if permission == ANONYMOUS:
            return
        if req.key_info is None:
            raise SimError(401, 'You must be logged in to perform this action. Please provide a valid API key or log in again.',
                           help_text=HELP_TEXT_401)
        perms = self.cluster.node_read_permissions if permission == 'NODE_READ' else permission
        if not perms:
            return  # any valid key (node reads by default, Issues #2228)
        for perm in perms:
            if self.cluster.has_permission(req.key_info, perm):
                return
        raise forbidden(perms[0])

    def _user(self, req):
        return (req.key_info or {}).get('name') or 'user'

    # ------------------------------------------------------------------ root
    def root(self, req):
        server = self.cluster.server
        space = self.cluster.default_space_id()
        links = {
            'Self': '/api',
            'SpaceHome': '/api/{spaceId}',
            'Spaces': '/api/spaces{/id}{?name,skip,ids,take,partialName}',
            'OctopusServerNodes': '/api/octopusservernodes{/id}{?skip,take,ids,partialName}',
            'OctopusServerClusterSummary': '/api/octopusservernodes/summary',
            'Tasks': '/api/tasks{/id}{?skip,active,environment,tenant,runbook,project,name,node,running,states,'
                     'hasPendingInterruptions,hasWarningsOrErrors,take,ids,partialName,spaces,includeSystem}',
            'ServerStatus': '/api/serverstatus',
            'ServerHealthStatus': '/api/serverstatus/health',
            'MaintenanceConfiguration': '/api/maintenanceconfiguration',
            'CurrentLicenseStatus': '/api/licenses/licenses-current-status',
            'Web': '/app',
        }
        if space:
            links.update({
                'Machines': '/api/%s/machines{/id}{?skip,take,name,ids,partialName,roles,isDisabled,healthStatuses,'
                            'commStyles,tenantIds,tenantTags,environmentIds,thumbprint,deploymentId}' % space,
                'Workers': '/api/%s/workers{/id}{?skip,take,name,ids,partialName,isDisabled,healthStatuses,commStyles,'
                           'workerpoolIds,thumbprint}' % space,
                'Feeds': '/api/feeds{/id}{?skip,take,ids,partialName,feedType}',
                'Accounts': '/api/%s/accounts{/id}{?skip,take,ids,partialName,accountType}' % space,
            })
        return 200, {
            'Application': server['application'],
            'Version': req.node.version if req.node is not None and req.node.version else server['version'],
            'ApiVersion': server['api_version'],
            'InstallationId': server['installation_id'],
            'IsEarlyAccessProgram': bool(server.get('is_early_access_program', False)),
            'HasLongTermSupport': bool(server.get('has_long_term_support', True)),
            'Links': links,
        }

    def space_home(self, req, space):
        self.authorize(req, ('SpaceView',))
        sid = space['Id']
        return 200, {'Links': {
            'Self': '/api/%s' % sid,
            'Tasks': '/api/%s/tasks{/id}{?skip,take,ids,name,node,running,states,active,hasPendingInterruptions}' % sid,
            'Machines': '/api/%s/machines{/id}{?skip,take,name,ids,partialName,commStyles}' % sid,
            'Workers': '/api/%s/workers{/id}{?skip,take,name,ids,partialName,commStyles}' % sid,
            'Feeds': '/api/%s/feeds{/id}{?skip,take,ids,partialName,feedType}' % sid,
            'Accounts': '/api/%s/accounts{/id}{?skip,take,ids,partialName,accountType}' % sid,
        }}

    # ------------------------------------------------------------------ nodes
    def _node_or_404(self, node_id):
        node = self.cluster.node_by_id(node_id)
        if node is None:
            raise SimError(404, 'The OctopusServerNode with Id %s was not found.' % node_id)
        return node

    def _filtered_nodes(self, req):
        nodes = sorted(self.cluster.nodes, key=lambda n: n.name.lower())
        ids = [i.lower() for i in req.list_param('ids')]
        if ids:
            nodes = [n for n in nodes if n.id.lower() in ids]
        partial = req.param('partialName')
        if partial:
            nodes = [n for n in nodes if partial.lower() in n.name.lower()]
        return nodes

    def nodes_list(self, req):
        items = [self.cluster.render_node(n) for n in self._filtered_nodes(req)]
        return 200, paged(req, 'OctopusServerNode', items, '/api/octopusservernodes',
                          '/api/octopusservernodes{?skip,take,ids,partialName}')

    def nodes_all(self, req):
        return 200, [self.cluster.render_node(n) for n in self._filtered_nodes(req)]

    def nodes_summary(self, req):
        nodes = sorted(self.cluster.nodes, key=lambda n: n.name.lower())
        return 200, {'Nodes': [self.cluster.render_summary_node(n) for n in nodes],
                     'Links': {'Self': '/api/octopusservernodes/summary'}}

    def nodes_ping(self, req):
        node = req.node
        if node is None:
            raise SimError(503, 'No Octopus Server node is available.')
        return (200 if self.cluster.ping_ok(node) else 418), self.cluster.render_ping(node)

    def node_get(self, req, id):  # pylint: disable=redefined-builtin
        return 200, self.cluster.render_node(self._node_or_404(id))

    def node_details(self, req, id):  # pylint: disable=redefined-builtin
        node = self._node_or_404(id)
        return 200, {'Id': node.id, 'RunningTasks': len(self.cluster.running_tasks(node)),
                     'Links': {'Self': '/api/octopusservernodes/%s/details' % node.id,
                               'Node': '/api/octopusservernodes/%s' % node.id}}

    def node_put(self, req, id):  # pylint: disable=redefined-builtin
        node = self._node_or_404(id)
        self.cluster.update_node(node, req.body, self._user(req))
        return 200, self.cluster.render_node(node)

    def node_delete(self, req, id):  # pylint: disable=redefined-builtin
        node = self._node_or_404(id)
        self.cluster.delete_node(node)
        return 200, {}

    # ------------------------------------------------------------------ server status, license, folders
    def health(self, req):
        cluster = self.cluster
        online = [n for n in cluster.nodes if cluster.is_live(n) and not cluster.is_offline(n)]
        draining = bool(online) and all(n.drained for n in online)
        compliant = self._license_compliant()
        normal = bool(online) and not draining and not cluster.maintenance_mode
        if not online:
            description = 'No Octopus Server node is online.'
        elif draining:
            description = 'Every online node is draining tasks.'
        elif cluster.maintenance_mode:
            description = 'The cluster is in maintenance mode.'
        else:
            description = 'Operating normally'
        body = {
            'Id': 'serverstatus-health',
            'IsOperatingNormally': normal,
            'Description': description,
            'IsEntireClusterReadOnly': cluster.maintenance_mode,
            'IsEntireClusterDrainingTasks': draining,
            'IsCompliantWithLicense': compliant,
            'LastModifiedOn': None,
            'LastModifiedBy': None,
            'Links': {'Self': '/api/serverstatus/health'},
        }
        return (200 if normal else 418), body

    def server_status(self, req):
        return 200, {
            'Id': 'serverstatus',
            'IsDatabaseEncrypted': True,
            'IsUpgradeAvailable': False,
            'MaximumAvailableVersion': self.cluster.server['version'],
            'MaximumAvailableVersionCoveredByLicense': self.cluster.server['version'],
            'MaintenanceExpires': None,
            'IsInMaintenanceMode': self.cluster.maintenance_mode,
            'IsMajorMinorUpgrade': False,
            'IsPotentialClone': False,
            'Links': {'Self': '/api/serverstatus', 'Health': '/api/serverstatus/health'},
        }

    def maintenance_get(self, req):
        return 200, {'Id': 'maintenance', 'IsInMaintenanceMode': self.cluster.maintenance_mode,
                     'Links': {'Self': '/api/maintenanceconfiguration'}}

    def maintenance_put(self, req):
        body = req.body
        if not isinstance(body, dict) or not isinstance(body.get('IsInMaintenanceMode'), bool):
            raise SimError(400, 'There was a problem with your request.', ['IsInMaintenanceMode must be true or false.'])
        self.cluster.maintenance_mode = body['IsInMaintenanceMode']
        return self.maintenance_get(req)

    def _online_count(self):
        cluster = self.cluster
        return len([n for n in cluster.nodes if not cluster.is_offline(n)])

    def _license_compliant(self):
        limit = self.cluster.license.get('node_limit')
        return limit is None or self._online_count() <= int(limit)

    def license_status(self, req):
        lic = self.cluster.license
        limit = lic.get('node_limit')
        usage = self._online_count()
        compliant = self._license_compliant()
        unlimited = limit is None
        if compliant:
            message = '%d of %s nodes in use.' % (usage, 'unlimited' if unlimited else limit)
        else:
            message = 'Your license allows %s active nodes, but %d are active.' % (limit, usage)
        node_limit = {
            'Name': lic.get('node_limit_name') or 'Nodes',
            'CurrentUsage': usage,
            'EffectiveLimit': 2147483647 if unlimited else int(limit),
            'EffectiveLimitDescription': 'Unlimited' if unlimited else str(limit),
            'IsUnlimited': unlimited,
            'Disposition': 'Information' if compliant else 'Error',
            'Message': message,
        }
        limits = [node_limit]
        for item in lic.get('other_limits') or []:
            extra = {'Name': item.get('Name'), 'CurrentUsage': int(item.get('CurrentUsage', 0)),
                     'EffectiveLimit': int(item.get('EffectiveLimit', 2147483647)),
                     'EffectiveLimitDescription': item.get('EffectiveLimitDescription') or
                     ('Unlimited' if item.get('IsUnlimited') else str(item.get('EffectiveLimit'))),
                     'IsUnlimited': bool(item.get('IsUnlimited', False)),
                     'Disposition': item.get('Disposition') or 'Information', 'Message': item.get('Message') or ''}
            limits.append(extra)
        messages = [] if compliant else [{'Disposition': 'Error', 'Message': node_limit['Message']}]
        return 200, {
            'Id': 'licenses-current-status',
            'IsCompliant': compliant and all(li['Disposition'] != 'Error' for li in limits),
            'ComplianceSummary': 'Your license is compliant.' if compliant else 'Your license is not compliant: too many nodes.',
            'EffectiveNodeTaskLimit': int(lic.get('effective_node_task_limit') or 0),
            'EffectiveClusterTaskLimit': int(lic.get('effective_cluster_task_limit') or 0),
            'IsNodeTaskLimitControlledByLicense': bool(lic.get('effective_node_task_limit')),
            'IsClusterTaskLimitControlledByLicense': bool(lic.get('effective_cluster_task_limit')),
            'DaysToEffectiveExpiryDate': 365,
            'EffectiveExpiryDate': iso(self.cluster.sim_now + 365 * 86400)[:10],
            'DoesExpiryBlockKeyActivities': False,
            'HostingEnvironment': lic.get('hosting_environment') or 'SelfHosted',
            'PermissionsMode': lic.get('permissions_mode') or 'Full',
            'Limits': limits,
            'Messages': messages,
            'Links': {'Self': '/api/licenses/licenses-current-status'},
        }

    def server_folders(self, req):
        body = {'Id': 'server-folders'}
        body.update(self.cluster.server_folders)
        body['Links'] = {'Self': '/api/configuration/server-folders/values'}
        return 200, body

    # ------------------------------------------------------------------ spaces
    def _render_space(self, space):
        body = {'Id': space['Id'], 'Name': space['Name'], 'Description': space.get('Description', ''),
                'IsDefault': bool(space.get('IsDefault')), 'TaskQueueStopped': bool(space.get('TaskQueueStopped', False)),
                'SpaceManagersTeams': list(space.get('SpaceManagersTeams') or ['teams-spacemanagers-%s' % space['Id']]),
                'SpaceManagersTeamMembers': list(space.get('SpaceManagersTeamMembers') or []),
                'LastModifiedOn': None, 'LastModifiedBy': None,
                'Links': {'Self': '/api/spaces/%s' % space['Id'], 'SpaceHome': '/api/%s' % space['Id']}}
        return body

    def _filtered_spaces(self, req):
        spaces = list(self.cluster.spaces)
        ids = [i.lower() for i in req.list_param('ids')]
        if ids:
            spaces = [s for s in spaces if s['Id'].lower() in ids]
        name = req.param('name')
        if name:
            spaces = [s for s in spaces if s['Name'].lower() == name.lower()]
        partial = req.param('partialName')
        if partial:
            spaces = [s for s in spaces if partial.lower() in s['Name'].lower()]
        return [self._render_space(s) for s in spaces]

    def spaces_list(self, req):
        return 200, paged(req, 'Space', self._filtered_spaces(req), '/api/spaces', '/api/spaces{?skip,take,ids,partialName,name}')

    def spaces_all(self, req):
        return 200, self._filtered_spaces(req)

    def space_get(self, req, id):  # pylint: disable=redefined-builtin
        space = self.cluster.find_space(id)
        if space is None:
            raise SimError(404, 'The Space with Id %s was not found.' % id)
        return 200, self._render_space(space)

    # ------------------------------------------------------------------ tasks
    def _task_visible(self, req, task):
        if req.space is not None:
            return task.space_id is not None and task.space_id.lower() == req.space['Id'].lower()
        return True

    def _task_or_404(self, req, task_id):
        task = self.cluster.task(task_id)
        if task is None or not self._task_visible(req, task):
            raise SimError(404, 'The ServerTask with Id %s was not found.' % task_id)
        return task

    def tasks_list(self, req):
        cluster = self.cluster
        tasks = list(cluster.tasks)
        if req.space is not None:
            tasks = [t for t in tasks if self._task_visible(req, t)]
            base = '/api/%s/tasks' % req.space['Id']
        else:
            base = '/api/tasks'
            spaces = req.list_param('spaces')
            include_system = bool(req.bool_param('includeSystem'))
            if any(s.lower() == 'all' for s in spaces):
                wanted = None
            elif spaces:
                wanted = set(s.lower() for s in spaces)
            else:
                default = cluster.default_space_id()
                wanted = set([default.lower()]) if default else set()
            tasks = [t for t in tasks if (t.space_id is None and include_system) or
                     (t.space_id is not None and (wanted is None or t.space_id.lower() in wanted))]
        ids = [i.lower() for i in req.list_param('ids')]
        if ids:
            tasks = [t for t in tasks if t.id.lower() in ids]
        names = [n.lower() for n in req.list_param('name')]
        if names:
            tasks = [t for t in tasks if t.name.lower() in names]
        partial = req.param('partialName')
        if partial:
            tasks = [t for t in tasks if partial.lower() in t.description.lower() or partial.lower() in t.name.lower()]
        node = req.param('node')
        if node:
            tasks = [t for t in tasks if (t.server_node or '').lower() == node.strip().lower()]
        project = req.list_param('project')
        if project:
            wanted_projects = set(p.lower() for p in project)
            tasks = [t for t in tasks if (t.project_id or '').lower() in wanted_projects]
        pending = req.bool_param('hasPendingInterruptions')
        if pending is not None:
            tasks = [t for t in tasks if t.pending_interruptions == pending]
        counted = list(tasks)
        states = req.list_param('states')
        if states:
            lookup = dict((s.lower(), s) for s in TASK_STATES + ('New',))
            unknown = [s for s in states if s.lower() not in lookup]
            if unknown:
                raise SimError(400, 'The value %r is not a valid task state.' % unknown[0])
            wanted_states = set(lookup[s.lower()] for s in states)
            tasks = [t for t in tasks if t.state in wanted_states]
        if req.bool_param('running'):
            tasks = [t for t in tasks if t.state in RUNNING_STATES]
        if req.bool_param('active'):
            tasks = [t for t in tasks if t.state in ACTIVE_STATES]
        tasks.sort(key=lambda t: (t.queue_time, t.number), reverse=True)
        body = paged(req, 'Task', tasks, base,
                     base + '{?skip,active,environment,tenant,runbook,project,name,node,running,states,'
                            'hasPendingInterruptions,hasWarningsOrErrors,take,ids,partialName,spaces,includeSystem}',
                     render=cluster.render_task)
        counts = dict((s, 0) for s in TASK_STATES)
        for task in counted:
            counts[task.state] += 1
        body['TotalCounts'] = counts
        body['TotalCountsInOtherSpaces'] = {}
        return 200, body

    def task_create(self, req):
        body = req.body
        if not isinstance(body, dict):
            raise SimError(400, 'No request body was supplied.')
        missing = [f for f in ('Name', 'Description') if not isinstance(body.get(f), str) or not body[f].strip()]
        if missing:
            raise SimError(400, 'There was a problem with your request.', ['Please provide a %s.' % f for f in missing])
        space_id = req.space['Id'] if req.space is not None else (body.get('SpaceId') or self.cluster.default_space_id())
        if self.cluster.find_space(space_id) is None:
            raise SimError(400, 'There was a problem with your request.', ['The space %s does not exist.' % space_id])
        spec = {'Name': body['Name'], 'Description': body['Description'], 'SpaceId': space_id,
                'Arguments': body.get('Arguments') if isinstance(body.get('Arguments'), dict) else {},
                'Duration': self.cluster.timing.get('created_task_duration', 30)}
        task = self.cluster.add_task(spec)
        return 201, self.cluster.render_task(task)

    def task_get(self, req, id):  # pylint: disable=redefined-builtin
        return 200, self.cluster.render_task(self._task_or_404(req, id))

    def task_details(self, req, id):  # pylint: disable=redefined-builtin
        task = self._task_or_404(req, id)
        rendered = self.cluster.render_task(task)
        return 200, {'Task': rendered, 'ActivityLogs': [], 'PhysicalLogSize': 0,
                     'Progress': {'ProgressPercentage': 100 if rendered['IsCompleted'] else 0, 'EstimatedTimeRemaining': None},
                     'Links': {'Self': '/api/tasks/%s/details' % task.id}}

    def task_cancel(self, req, id):  # pylint: disable=redefined-builtin
        task = self._task_or_404(req, id)
        self.cluster.cancel_task(task)
        return 200, self.cluster.render_task(task)

    # ------------------------------------------------------------------ machines, workers, feeds, accounts
    def _space_items(self, req, kind):
        space_id = req.space['Id'] if req.space is not None else self.cluster.default_space_id()
        return [i for i in getattr(self.cluster, kind) if (i.get('SpaceId') or '').lower() == (space_id or '').lower()]

    def _render_item(self, kind, item):
        if kind in ('machines', 'workers'):
            return self._render_machine(kind, item)
        base = {'Id': item['Id'], 'Name': item.get('Name', item['Id']), 'SpaceId': item['SpaceId'],
                'LastModifiedOn': None, 'LastModifiedBy': None}
        if kind == 'feeds':
            base.update({'FeedType': item.get('FeedType', 'NuGet'),
                         'PackageAcquisitionLocationOptions': ['Server', 'ExecutionTarget']})
        else:
            base.update({'AccountType': item.get('AccountType', 'AmazonWebServicesAccount'), 'Description': '',
                         'EnvironmentIds': [], 'TenantIds': [], 'TenantTags': [],
                         'TenantedDeploymentParticipation': 'Untenanted'})
        for key, value in item.items():
            if key not in base:
                base[key] = value
        base['Links'] = {'Self': '/api/%s/%s/%s' % (item['SpaceId'], kind, item['Id'])}
        return base

    def _render_machine(self, kind, item):
        style = item.get('CommunicationStyle') or (item.get('Endpoint') or {}).get('CommunicationStyle') or 'TentaclePassive'
        uri = item.get('Uri') or (item.get('Endpoint') or {}).get('Uri')
        if uri is None:
            uri = 'https://%s:10933/' % item.get('Name', item['Id']).lower() if style == 'TentaclePassive' else \
                'poll://%s/' % item['Id'].lower()
        thumb = item.get('Thumbprint') or (item.get('Endpoint') or {}).get('Thumbprint') or ''
        body = {
            'Id': item['Id'],
            'Name': item.get('Name', item['Id']),
            'SpaceId': item['SpaceId'],
            'Endpoint': {'Id': 'endpoint-%s' % item['Id'].lower(), 'CommunicationStyle': style, 'Uri': uri,
                         'Thumbprint': thumb, 'LastModifiedOn': None, 'LastModifiedBy': None, 'Links': {}},
            'Uri': uri,
            'Thumbprint': thumb,
            'IsDisabled': bool(item.get('IsDisabled', False)),
            'HealthStatus': item.get('HealthStatus', 'Healthy'),
            'Status': item.get('Status', 'Online'),
            'StatusSummary': item.get('StatusSummary', 'Octopus was able to successfully establish a connection with this machine'),
            'HasLatestCalamari': True,
            'IsInProcess': False,
            'MachinePolicyId': item.get('MachinePolicyId', 'MachinePolicies-1'),
            'OperatingSystem': item.get('OperatingSystem', 'Microsoft Windows Server 2022'),
            'ShellName': item.get('ShellName', 'PowerShell'),
            'ShellVersion': item.get('ShellVersion', '5.1'),
            'LastModifiedOn': None,
            'LastModifiedBy': None,
        }
        if kind == 'machines':
            body.update({'EnvironmentIds': list(item.get('EnvironmentIds') or []), 'Roles': list(item.get('Roles') or []),
                         'TenantIds': [], 'TenantTags': [], 'TenantedDeploymentParticipation': 'Untenanted'})
        else:
            body['WorkerPoolIds'] = list(item.get('WorkerPoolIds') or ['WorkerPools-1'])
        body['Links'] = {'Self': '/api/%s/%s/%s' % (item['SpaceId'], kind, item['Id']),
                         'Connection': '/api/%s/%s/%s/connection' % (item['SpaceId'], kind, item['Id'])}
        return body

    def _filter_items(self, req, kind):
        items = [self._render_item(kind, i) for i in self._space_items(req, kind)]
        ids = [i.lower() for i in req.list_param('ids')]
        if ids:
            items = [i for i in items if i['Id'].lower() in ids]
        name = req.param('name')
        if name:
            items = [i for i in items if i['Name'].lower() == name.lower()]
        partial = req.param('partialName')
        if partial:
            items = [i for i in items if partial.lower() in i['Name'].lower()]
        styles = [s.lower() for s in req.list_param('commStyles')]
        if styles and kind in ('machines', 'workers'):
            items = [i for i in items if i['Endpoint']['CommunicationStyle'].lower() in styles]
        health = [s.lower() for s in req.list_param('healthStatuses')]
        if health and kind in ('machines', 'workers'):
            items = [i for i in items if i['HealthStatus'].lower() in health]
        disabled = req.bool_param('isDisabled')
        if disabled is not None and kind in ('machines', 'workers'):
            items = [i for i in items if i['IsDisabled'] == disabled]
        thumb = req.param('thumbprint')
        if thumb and kind in ('machines', 'workers'):
            items = [i for i in items if i['Thumbprint'].lower() == thumb.lower()]
        feed_type = req.param('feedType')
        if feed_type and kind == 'feeds':
            items = [i for i in items if i['FeedType'].lower() == feed_type.lower()]
        account_type = req.param('accountType')
        if account_type and kind == 'accounts':
            items = [i for i in items if i['AccountType'].lower() == account_type.lower()]
        return items

    def _make_list(self, kind):
        item_type = {'machines': 'DeploymentTarget', 'workers': 'Worker', 'feeds': 'Feed', 'accounts': 'Account'}[kind]

        def handler(req):
            space_id = req.space['Id'] if req.space is not None else self.cluster.default_space_id()
            base = '/api/%s/%s' % (space_id, kind)
            return 200, paged(req, item_type, self._filter_items(req, kind), base, base + '{?skip,take,ids,partialName}')
        return handler

    def _make_all(self, kind):
        def handler(req):
            return 200, self._filter_items(req, kind)
        return handler

    def _make_get(self, kind):
        def handler(req, id):  # pylint: disable=redefined-builtin
            for item in self._space_items(req, kind):
                if item['Id'].lower() == id.lower():
                    return 200, self._render_item(kind, item)
            raise SimError(404, 'The resource %s was not found.' % id)
        return handler

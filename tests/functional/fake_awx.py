# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST-ONLY: a small fake of the AWX / automation controller REST API on 127.0.0.1.

Just what the awx.awx modules and the controller_api lookup of playbooks/awx_setup.yml send, read from
awx.awx 24.6.1 (plugins/module_utils/controller_api.py and the modules credential_type, credential,
job_template, schedule):

- every path lives under ``<prefix>v2/``: ``/api/v2/`` for AWX, ``/api/controller/v2/`` behind the AAP 2.5
  gateway (awx.awx reads the prefix from CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX); anything else is 404;
- ``Authorization: Bearer <token>`` (CONTROLLER_OAUTH_TOKEN), else 401;
- list views ``GET <collection>/?name=X&<field>=<id>`` (also ``or__id``/``or__name``) answer
  ``{count, next, previous, results}``; detail views ``<collection>/<id>/``;
- ``POST <collection>/`` creates (201) and ``PATCH <url>`` updates (200) an object; foreign keys must
  exist (400 otherwise); credential types are validated the way AWX does (awx_emulation.validate);
- a credential's secret inputs (``secret: true`` in its type) read back as ``$encrypted$``, and a PATCH
  that sends ``$encrypted$`` keeps the stored value (awx/main/models/credential Credential.save);
- ``<url>survey_spec/`` (GET, POST) and ``<url>credentials/`` (GET; POST ``{id}`` associates,
  ``{id, disassociate: true}`` removes, 204);
- a schedule is created ``enabled: true`` unless the request says otherwise (AWX's model default);
- responses carry ``X-API-Product-Name`` / ``X-API-Product-Version``, which awx.awx compares with its own
  version (24.6.1, AWX: no warning).

``requests`` logs every request (method, path, query, body). ``writes()`` lists the mutating ones.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import http.server
import json
import threading

from urllib.parse import parse_qsl, urlsplit

import awx_emulation

TOKEN = 'fake-awx-oauth-token-0123456789'
ENCRYPTED = '$encrypted$'
COLLECTIONS = {
    'organizations': 'organization', 'projects': 'project', 'inventories': 'inventory',
    'execution_environments': 'execution_environment', 'credential_types': 'credential_type',
    'credentials': 'credential', 'job_templates': 'job_template', 'schedules': 'schedule',
}
FOREIGN_KEYS = {
    'credentials': ('credential_type', 'organization'),
    'job_templates': ('organization', 'project', 'inventory', 'execution_environment'),
    'schedules': ('unified_job_template',),
}
DEFAULTS = {
    'job_templates': dict(description='', job_type='run', extra_vars='', survey_enabled=False, ask_variables_on_launch=False,
                          ask_limit_on_launch=False, allow_simultaneous=False, limit=''),
    'schedules': dict(description='', enabled=True, extra_data={}),
    'credentials': dict(description='', inputs={}),
    'credential_types': dict(description='', managed=False, inputs={}, injectors={}),
}
MACHINE = dict(name='Machine', kind='ssh', managed=True, inputs={'fields': [
    {'id': 'username', 'type': 'string', 'label': 'Username'},
    {'id': 'password', 'type': 'string', 'label': 'Password', 'secret': True}]}, injectors={})
AMAZON = dict(name='Amazon Web Services', kind='cloud', managed=True, inputs={'fields': [
    {'id': 'username', 'type': 'string', 'label': 'Access Key'},
    {'id': 'password', 'type': 'string', 'label': 'Secret Key', 'secret': True}]}, injectors={})


class FakeAwx(object):
    """The controller's state and its HTTP server. Start with ``with FakeAwx(...) as awx:``."""

    def __init__(self, prefix='/api/', product=('AWX', '24.6.1')):
        self.prefix = prefix
        self.product = product
        self.objects = dict((name, {}) for name in COLLECTIONS)
        self.surveys = {}
        self.associations = {}
        self.requests = []
        self.next_id = 1
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.url = None

    # ---- state ------------------------------------------------------------------------

    def add(self, collection, **fields):
        """Create an object directly (what an operator already has in AWX). Returns it."""
        obj = dict(copy.deepcopy(DEFAULTS.get(collection, {})), **fields)
        obj['id'] = self.next_id
        self.next_id += 1
        obj['type'] = COLLECTIONS[collection]
        base = '%sv2/%s/%d/' % (self.prefix, collection, obj['id'])
        obj['url'] = base
        obj['related'] = dict(survey_spec=base + 'survey_spec/', credentials=base + 'credentials/')
        obj['summary_fields'] = {}
        self.objects[collection][obj['id']] = obj
        return obj

    def seed(self, credentials=('AWS octopus', 'Octopus nodes WinRM')):
        """An organization, a project, an inventory, an EE and the AWS and Windows credentials."""
        org = self.add('organizations', name='Default')
        self.add('projects', name='octopus-ha', organization=org['id'])
        self.add('inventories', name='octopus', organization=org['id'])
        self.add('execution_environments', name='octopus-ha-ee', organization=None)
        machine = self.add('credential_types', **MACHINE)
        amazon = self.add('credential_types', **AMAZON)
        if 'AWS octopus' in credentials:
            self.add('credentials', name='AWS octopus', credential_type=amazon['id'], organization=org['id'],
                     inputs={'username': 'AKIAFAKE', 'password': 'aws-secret'})
        if 'Octopus nodes WinRM' in credentials:
            self.add('credentials', name='Octopus nodes WinRM', credential_type=machine['id'], organization=org['id'],
                     inputs={'username': 'CORP\\svc-ansible', 'password': 'winrm-secret'})
        return self

    def find(self, collection, name):
        found = [o for o in self.objects[collection].values() if o.get('name') == name]
        return found[0] if found else None

    def survey(self, template_name):
        return self.surveys.get(self.find('job_templates', template_name)['id'])

    def template_credentials(self, template_name):
        ids = self.associations.get(self.find('job_templates', template_name)['id'], [])
        return sorted(self.objects['credentials'][i]['name'] for i in ids)

    def writes(self):
        return [(m, p) for m, p, q, b in self.requests if m in ('POST', 'PATCH', 'PUT', 'DELETE')]

    def stored_secret(self, credential_name, field):
        return self.find('credentials', credential_name)['inputs'].get(field)

    # ---- views ------------------------------------------------------------------------

    def _secret_fields(self, credential):
        ctype = self.objects['credential_types'].get(credential.get('credential_type')) or {}
        return [f['id'] for f in (ctype.get('inputs') or {}).get('fields', []) if f.get('secret')]

    def _view(self, collection, obj):
        view = copy.deepcopy(obj)
        if collection == 'credentials':
            for field in self._secret_fields(obj):
                if field in view['inputs']:
                    view['inputs'][field] = ENCRYPTED
        return view

    def _matches(self, obj, query):
        ors = [(k[4:], v) for k, v in query.items() if k.startswith('or__')]
        ands = [(k, v) for k, v in query.items() if not k.startswith('or__') and k not in ('page', 'page_size')]
        if ors and not any(str(obj.get(k)) == v for k, v in ors):
            return False
        return all(str(obj.get(k)) == v for k, v in ands)

    def _page(self, items):
        return dict(count=len(items), next=None, previous=None, results=items)

    # ---- HTTP -------------------------------------------------------------------------

    def handle(self, method, path, query, body, headers):
        """(status, JSON body) for one request."""
        if headers.get('Authorization') != 'Bearer %s' % TOKEN:
            return 401, {'detail': 'Authentication credentials were not provided.'}
        root = self.prefix + 'v2/'
        if not path.startswith(root):
            return 404, {'detail': 'Not found.'}
        parts = [p for p in path[len(root):].split('/') if p]
        collection = parts[0] if parts else None
        if parts == ['ping'] and method == 'GET':
            return 200, {'ha': False, 'version': self.product[1], 'active_node': 'awx-1', 'install_uuid': 'fake'}
        if collection == 'unified_job_templates':
            collection = 'job_templates'
        if collection not in COLLECTIONS:
            return 404, {'detail': 'Not found.'}
        store = self.objects[collection]
        if len(parts) == 1:
            if method == 'GET':
                return 200, self._page([self._view(collection, o) for o in store.values() if self._matches(o, query)])
            if method == 'POST':
                return self._create(collection, body)
            return 405, {'detail': 'Method "%s" not allowed.' % method}
        obj = store.get(int(parts[1])) if parts[1].isdigit() else None
        if obj is None:
            return 404, {'detail': 'Not found.'}
        if len(parts) == 2:
            if method == 'GET':
                return 200, self._view(collection, obj)
            if method == 'PATCH':
                return self._update(collection, obj, body)
            return 405, {'detail': 'Method "%s" not allowed.' % method}
        if parts[2] == 'survey_spec' and collection == 'job_templates':
            if method == 'GET':
                return 200, copy.deepcopy(self.surveys.get(obj['id'], {}))
            if method == 'POST':
                self.surveys[obj['id']] = copy.deepcopy(body)
                return 200, {}
        if parts[2] == 'credentials' and collection == 'job_templates':
            linked = self.associations.setdefault(obj['id'], [])
            if method == 'GET':
                return 200, self._page([self._view('credentials', self.objects['credentials'][i]) for i in linked])
            if method == 'POST':
                if body['id'] not in self.objects['credentials']:
                    return 400, {'msg': 'credential %s does not exist' % body['id']}
                if body.get('disassociate'):
                    linked.remove(body['id'])
                elif body['id'] not in linked:
                    linked.append(body['id'])
                return 204, None
        return 404, {'detail': 'Not found.'}

    def _check(self, collection, fields):
        for key in FOREIGN_KEYS.get(collection, ()):
            target = 'job_templates' if key == 'unified_job_template' else '%ss' % key
            target = 'inventories' if key == 'inventory' else target
            if fields.get(key) is not None and fields[key] not in self.objects[target]:
                return {key: ['Invalid pk "%s" - object does not exist.' % fields[key]]}
        if collection == 'credential_types':
            try:
                awx_emulation.validate(dict(inputs=fields.get('inputs') or {}, injectors=fields.get('injectors') or {}))
            except Exception as exc:  # pylint: disable=broad-except
                return {'injectors': [str(exc)]}
        if not fields.get('name'):
            return {'name': ['This field is required.']}
        return None

    def _create(self, collection, body):
        error = self._check(collection, body)
        if error:
            return 400, error
        if any(o.get('name') == body['name'] for o in self.objects[collection].values()) and collection != 'credentials':
            return 400, {'__all__': ['%s with this Name already exists.' % COLLECTIONS[collection]]}
        return 201, self._view(collection, self.add(collection, **body))

    def _update(self, collection, obj, body):
        merged = dict(obj, **body)
        if collection == 'credentials' and 'inputs' in body:
            inputs = dict(body['inputs'])
            for field in self._secret_fields(obj):
                if inputs.get(field) == ENCRYPTED:
                    inputs[field] = obj['inputs'].get(field)
            merged['inputs'] = inputs
        error = self._check(collection, merged)
        if error:
            return 400, error
        obj.update(merged)
        return 200, self._view(collection, obj)

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length) if length else b''
                body = json.loads(raw) if raw else None
                query = dict(parse_qsl(parts.query))
                with owner.lock:
                    owner.requests.append((self.command, parts.path, query, body))
                    status, answer = owner.handle(self.command, parts.path, query, body, dict(self.headers.items()))
                payload = b'' if answer is None else json.dumps(answer).encode('utf-8')
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('X-API-Product-Name', owner.product[0])
                self.send_header('X-API-Product-Version', owner.product[1])
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

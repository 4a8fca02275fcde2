# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: the rules of the node_verify role (what to probe, and the report).

This module_util is PRIVATE to the octopus.ha collection, not a public API. The filters in
``plugins/filter/octopus_verify_report.py`` are thin adapters over it.

* ``select_targets`` picks the listening Tentacles (targets and workers) to probe, de-duplicated
  and optionally sampled, and counts the polling Tentacles.
* ``select_endpoints`` lists the distinct http(s) feed and cloud endpoints to probe.
* ``build_report`` turns the raw observations gathered by the role into one report (checks with
  status passed, failed or skipped) and a summary table.

Connection strings are parsed by ``_octopus_sql``, versions by ``_octopus_version``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import random
import re
from urllib.parse import urlsplit

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.octopus.ha.plugins.module_utils._octopus_version import (
    same_version, version_at_least, version_tuple)

CHECK_STATUSES = ('passed', 'failed', 'skipped')
CHECK_ORDER = ('node_api', 'version', 'database_tcp', 'shared_storage', 'listening_tentacles',
               'external_feeds', 'cloud_endpoints', 'polling_tentacles', 'external_web', 'external_comms')
MULTI_NODE_POLLING_MIN_VERSION = (2026, 4, 6909)
THUMBPRINT_RE = re.compile(r'^[0-9A-F]{40}$')


class VerifyError(ValueError):
    """Invalid input to a verify rule. The message never contains a secret."""


def _to_int(value):
    """Return value as an int, or None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = to_text(value).strip()
    return int(text) if re.match(r'^-?[0-9]+$', text) else None


# ---------------------------------------------------------------------------------------------
# Listening / polling Tentacle selection
# ---------------------------------------------------------------------------------------------

def _normalise_thumbprint(value):
    if not isinstance(value, str):
        return None
    text = re.sub(r'[\s:\-]', '', value).upper()
    return text if THUMBPRINT_RE.match(text) else None


def _field(item, *names):
    """The first non-empty value among ``names`` (API resource or octopus_dependencies_info shape)."""
    for name in names:
        value = item.get(name)
        if value not in (None, ''):
            return value
    return None


def _endpoint(machine):
    endpoint = machine.get('Endpoint') or {}
    style = endpoint.get('CommunicationStyle') or _field(machine, 'CommunicationStyle', 'communication_style')
    uri = endpoint.get('Uri') or _field(machine, 'Uri', 'uri')
    thumbprint = endpoint.get('Thumbprint') or _field(machine, 'Thumbprint', 'thumbprint')
    return style, uri, thumbprint


def _label(machine):
    kind = _field(machine, 'Kind', 'kind') or ('worker' if 'WorkerPoolIds' in machine else 'target')
    return '%s/%s %s (%s)' % (_field(machine, 'SpaceId', 'space_id') or '-', _field(machine, 'Id', 'id') or '-',
                              _field(machine, 'Name', 'name') or '-', kind)


def _parse_uri(uri):
    try:
        parts = urlsplit(uri)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        return None
    if parts.scheme.lower() != 'https' or not parts.hostname:
        return None
    return dict(host=parts.hostname, port=port or 443)


def select_targets(machines, limit=0, seed=None, include_disabled=False):
    """Select the listening Tentacles to probe and count polling ones.

    ``machines`` is a list of deployment target and worker resources (``Kind`` may be set to
    ``target`` or ``worker`` by the caller). Listening endpoints are de-duplicated by URI and
    thumbprint. When ``limit`` > 0 and there are more, a sample of ``limit`` is taken with
    ``random.Random(seed)`` over a stable order, so a given seed always picks the same ones.
    """
    if machines is None:
        machines = []
    if not isinstance(machines, (list, tuple)):
        raise VerifyError('expected a list of machines, got %s' % type(machines).__name__)
    limit = _to_int(limit or 0)
    if limit is None or limit < 0:
        raise VerifyError('limit must be 0 (no limit) or more')
    listening = {}
    invalid, polling, disabled = [], [], []
    for machine in machines:
        if not isinstance(machine, dict):
            raise VerifyError('every machine must be a dict')
        style, uri, thumbprint = _endpoint(machine)
        if _field(machine, 'IsDisabled', 'is_disabled') and not include_disabled:
            if style in ('TentaclePassive', 'TentacleActive'):
                disabled.append(_label(machine))
            continue
        if style == 'TentacleActive':
            polling.append(_label(machine))
            continue
        if style != 'TentaclePassive':
            continue
        parsed = _parse_uri(uri) if uri else None
        pinned = _normalise_thumbprint(thumbprint)
        if parsed is None or pinned is None:
            invalid.append(dict(machine=_label(machine), uri=uri,
                                reason='no https URI' if parsed is None else 'no valid registered thumbprint'))
            continue
        key = '%s|%s' % (uri.rstrip('/').lower(), pinned)
        entry = listening.setdefault(key, dict(uri=uri, host=parsed['host'], port=parsed['port'],
                                               thumbprint=pinned, machines=[]))
        entry['machines'].append(_label(machine))
    ordered = [listening[key] for key in sorted(listening)]
    sampled = bool(limit) and len(ordered) > limit
    selected = ordered
    if sampled:
        rng = random.Random(to_text(seed)) if seed not in (None, '') else random.Random()
        picked = sorted(rng.sample(range(len(ordered)), limit))
        selected = [ordered[i] for i in picked]
    return dict(
        targets=selected,
        listening_total=len(ordered),
        sampled=sampled,
        not_probed=len(ordered) - len(selected),
        invalid=invalid,
        polling=sorted(polling),
        polling_total=len(polling),
        disabled=sorted(disabled),
    )


# ---------------------------------------------------------------------------------------------
# Feeds and cloud endpoints
# ---------------------------------------------------------------------------------------------

def select_endpoints(items, kind='feed'):
    """Return the distinct http(s) endpoints to probe as ``[{name, uri, kind}]``.

    ``items`` is a list of feed resources (``Name``, ``FeedUri``, ``SpaceId``) or of cloud
    endpoints given as URIs or ``{name, uri}`` dicts. Feeds without an http(s) ``FeedUri``
    (the built-in repository, for example) are left out.
    """
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise VerifyError('expected a list, got %s' % type(items).__name__)
    found = {}
    for item in items:
        if isinstance(item, str):
            name, uri = item, item
        elif isinstance(item, dict):
            uri = _field(item, 'uri', 'FeedUri', 'url')
            name = _field(item, 'name', 'Name') or uri
            space = _field(item, 'SpaceId', 'space_id')
            if space and _field(item, 'Name', 'name'):
                name = '%s/%s' % (space, _field(item, 'Name', 'name'))
        else:
            raise VerifyError('every item must be a URI or a dict')
        if not isinstance(uri, str) or not re.match(r'^https?://[^/\s]+', uri.strip(), re.IGNORECASE):
            if kind != 'feed':
                raise VerifyError('%s is not an http(s) URI' % to_text(name))
            continue
        uri = uri.strip()
        entry = found.setdefault(uri.lower(), dict(name=to_text(name), uri=uri, kind=kind))
        if to_text(name) not in entry['name'].split(', '):
            entry['name'] = '%s, %s' % (entry['name'], to_text(name))
    return [found[key] for key in sorted(found)]


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def _check(name, status, reason, details=None):
    if status not in CHECK_STATUSES:
        raise VerifyError('internal error, bad status %s' % status)
    return dict(name=name, status=status, reason=reason, details=details if details is not None else {})


def _status_code(observation):
    if not isinstance(observation, dict):
        return None
    for key in ('status_code', 'status'):
        value = observation.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _check_node_api(data):
    node_api = data.get('node_api')
    if not isinstance(node_api, dict):
        return _check('node_api', 'skipped', 'the node API was not probed')
    url = node_api.get('url')
    status = _status_code(node_api)
    details = dict(url=url, status_code=status, registered_name=node_api.get('registered_name'))
    expected, registered = data.get('node_name'), node_api.get('registered_name')
    if status == 200 and expected and registered and to_text(expected).strip().lower() != to_text(registered).strip().lower():
        return _check('node_api', 'failed', 'the server at %s reports itself as node %s, not %s: check the node URL and '
                      'the node name (--serverNodeName)' % (url, registered, expected), details)
    if status == 200:
        return _check('node_api', 'passed', 'the node answered %s with 200, so the server started and reached its '
                      'database' % url, details)
    msg = to_text(node_api.get('msg') or 'no answer')
    return _check('node_api', 'failed', 'the node API %s did not answer 200 (status %s: %s): the Octopus service is not '
                  'running or cannot reach its database' % (url, status, msg), details)


def _check_version(data):
    node_version = (data.get('node_api') or {}).get('version') if isinstance(data.get('node_api'), dict) else None
    cluster_version = data.get('cluster_version')
    details = dict(node_version=node_version, cluster_version=cluster_version)
    if not cluster_version or not node_version:
        return _check('version', 'skipped' if not node_version else 'failed',
                      'the node version is unknown' if not node_version else 'the cluster version is unknown', details)
    if same_version(node_version, cluster_version) and version_tuple(node_version)[:3] != (0, 0, 0):
        return _check('version', 'passed', 'the node runs %s like the cluster' % node_version, details)
    return _check('version', 'failed', 'version skew: the node runs %s but the cluster runs %s'
                  % (node_version, cluster_version), details)


def _check_database(data):
    database = data.get('database')
    if not isinstance(database, dict) or not database.get('endpoint'):
        return _check('database_tcp', 'skipped', 'no connection string was given; the node API check covers the database')
    endpoint = database['endpoint']
    details = dict(host=endpoint.get('host'), port=endpoint.get('port'), instance=endpoint.get('instance'),
                   protocol=endpoint.get('protocol'), port_source=endpoint.get('port_source'))
    if not endpoint.get('checkable'):
        return _check('database_tcp', 'skipped', endpoint.get('note') or 'the database address cannot be probed over TCP',
                      details)
    tcp = database.get('tcp')
    target = '%s:%s' % (endpoint.get('host'), endpoint.get('port'))
    if not isinstance(tcp, dict):
        return _check('database_tcp', 'skipped', 'the TCP probe of %s did not run' % target, details)
    if tcp.get('failed') or tcp.get('reachable') is False:
        details['error'] = to_text(tcp.get('msg') or 'connection failed')
        return _check('database_tcp', 'failed', 'SQL Server %s is not reachable over TCP from the node: %s'
                      % (target, details['error']), details)
    return _check('database_tcp', 'passed', 'SQL Server %s accepts TCP connections from the node' % target, details)


def _check_storage(data):
    storage = data.get('storage')
    if not isinstance(storage, dict):
        return _check('shared_storage', 'skipped', 'the shared folders were not probed')
    probe = storage.get('probe')
    folders = storage.get('folders') or {}
    details = dict(identity=storage.get('identity'), folders=folders, problems=[])
    if storage.get('unreadable'):
        return _check('shared_storage', 'failed', 'the API key cannot read the shared folders '
                      '(/api/configuration/server-folders/values needs AdministerSystem), so they cannot be verified; '
                      'add shared_storage to node_verify_skip_checks to go on without this check', details)
    if not folders:
        return _check('shared_storage', 'skipped', 'the API returned no shared folders', details)
    if not isinstance(probe, list):
        return _check('shared_storage', 'failed', 'the shared folder probe returned no result: %s'
                      % to_text(storage.get('msg') or 'unknown error'), details)
    seen = {}
    for item in probe:
        if isinstance(item, dict):
            seen[item.get('name')] = item
    for name in sorted(folders):
        item = seen.get(name)
        if item is None:
            details['problems'].append('%s (%s): not probed' % (name, folders[name]))
        elif not item.get('exists'):
            details['problems'].append('%s (%s): %s' % (name, folders[name], to_text(
                item.get('error') or 'does not exist or is not reachable')))
        elif not item.get('writable'):
            details['problems'].append('%s (%s): not writable%s' % (name, folders[name], _suffix(item.get('error'))))
    who = ' as %s' % storage['identity'] if storage.get('identity') else ''
    if details['problems']:
        return _check('shared_storage', 'failed', 'shared storage problem%s: %s' % (who, '; '.join(details['problems'])),
                      details)
    return _check('shared_storage', 'passed', '%d shared folder(s) exist and are writable%s' % (len(folders), who), details)


def _suffix(error):
    return ': %s' % to_text(error) if error else ''


def _check_tentacles(data):
    tentacles = data.get('tentacles')
    if not isinstance(tentacles, dict) or not isinstance(tentacles.get('selection'), dict):
        return _check('listening_tentacles', 'skipped', 'listening Tentacles were not probed')
    selection = tentacles['selection']
    probe = tentacles.get('probe')
    details = dict(listening_total=selection.get('listening_total', 0), probed=0,
                   not_probed=selection.get('not_probed', 0), sampled=selection.get('sampled', False),
                   passed=[], unreachable=[], mismatched=[], invalid=list(selection.get('invalid') or []))
    targets = selection.get('targets') or []
    if not targets and not details['invalid']:
        return _check('listening_tentacles', 'skipped', 'the cluster has no listening Tentacles (targets or workers)',
                      details)
    results = {}
    if targets and not isinstance(probe, list):
        return _check('listening_tentacles', 'failed', 'the Tentacle probe returned no result: %s'
                      % to_text(tentacles.get('msg') or 'unknown error'), details)
    for item in probe or []:
        if isinstance(item, dict):
            results.setdefault(to_text(item.get('uri')), item)
            results['%s|%s' % (item.get('uri'), _normalise_thumbprint(item.get('expected_thumbprint')))] = item
    for target in targets:
        item = (results.get('%s|%s' % (target.get('uri'), target.get('thumbprint')))
                or results.get(to_text(target.get('uri'))) or {})
        row = dict(uri=target.get('uri'), machines=target.get('machines'), expected_thumbprint=target.get('thumbprint'))
        presented = _normalise_thumbprint(item.get('presented_thumbprint'))
        row['presented_thumbprint'] = presented
        details['probed'] += 1
        status = item.get('status')
        if status == 'ok' and presented == target.get('thumbprint'):
            details['passed'].append(row)
        elif status == 'mismatch' or (status == 'ok' and presented != target.get('thumbprint')):
            details['mismatched'].append(row)
        else:
            row['error'] = to_text(item.get('error') or 'not probed')
            details['unreachable'].append(row)
    problems = []
    if details['unreachable']:
        problems.append('%d unreachable: %s' % (len(details['unreachable']), ', '.join(
            '%s at %s (%s)' % ('; '.join(r['machines'] or []), r['uri'], r['error']) for r in details['unreachable'])))
    if details['mismatched']:
        problems.append('%d presented a certificate whose thumbprint differs from the registered one: %s' % (
            len(details['mismatched']), ', '.join('%s at %s (registered %s, presented %s)' % (
                '; '.join(r['machines'] or []), r['uri'], r['expected_thumbprint'], r['presented_thumbprint'] or 'none')
                for r in details['mismatched'])))
    if details['invalid']:
        problems.append('%d cannot be pinned: %s' % (len(details['invalid']), ', '.join(
            '%s (%s)' % (r.get('machine'), r.get('reason')) for r in details['invalid'])))
    sample = ' (sample of %d out of %d)' % (details['probed'], details['listening_total']) if details['sampled'] else ''
    if problems:
        return _check('listening_tentacles', 'failed', 'listening Tentacles%s: %s' % (sample, '; '.join(problems)), details)
    return _check('listening_tentacles', 'passed', '%d listening Tentacle(s) answered HTTPS with their registered '
                  'certificate%s' % (details['probed'], sample), details)


def _check_endpoints(data, kind, name, empty_reason):
    endpoints = data.get(kind)
    if not isinstance(endpoints, dict):
        return _check(name, 'skipped', 'not probed')
    wanted = endpoints.get('endpoints') or []
    details = dict(total=len(wanted), reachable=[], unreachable=[])
    if endpoints.get('unreadable'):
        return _check(name, 'failed', 'the API key cannot read them (FeedView), so they cannot be verified; add %s to '
                      'node_verify_skip_checks to go on without this check' % name, details)
    if not wanted:
        return _check(name, 'skipped', empty_reason, details)
    probe = endpoints.get('probe')
    if not isinstance(probe, list):
        return _check(name, 'failed', 'the endpoint probe returned no result: %s'
                      % to_text(endpoints.get('msg') or 'unknown error'), details)
    results = dict((to_text(item.get('uri')), item) for item in probe if isinstance(item, dict))
    for endpoint in wanted:
        uri = to_text(endpoint.get('uri'))
        item = results.get(uri) or {}
        row = dict(name=endpoint.get('name'), uri=uri, status_code=item.get('status_code'))
        if item.get('reachable'):
            details['reachable'].append(row)
        else:
            row['error'] = to_text(item.get('error') or 'not probed')
            details['unreachable'].append(row)
    if details['unreachable']:
        return _check(name, 'failed', '%d of %d unreachable from the node: %s' % (
            len(details['unreachable']), len(wanted),
            ', '.join('%s %s (%s)' % (r['name'], r['uri'], r['error']) for r in details['unreachable'])), details)
    return _check(name, 'passed', '%d endpoint(s) reachable over HTTP(S) with normal certificate validation'
                  % len(wanted), details)


def _redis_exempt(data):
    polling = data.get('polling') or {}
    if not version_at_least(data.get('cluster_version'), MULTI_NODE_POLLING_MIN_VERSION):
        return False, 'multi-node polling needs Octopus Server 2026.4.6909 or later'
    if polling.get('multi_node_polling'):
        return True, 'multi-node polling over Redis is declared configured'
    redis = polling.get('redis')
    if isinstance(redis, dict) and _field(redis, 'IsEnabled', 'enabled') and _field(redis, 'IsConfigured', 'configured') \
            and _field(redis, 'IsReachable', 'reachable') is not False:
        return True, 'the server reports multi-node polling over Redis (serverstatus/redis)'
    return False, 'multi-node polling over Redis is not configured'


def _check_polling(data, warnings):
    tentacles = data.get('tentacles') or {}
    selection = tentacles.get('selection') if isinstance(tentacles, dict) else None
    if not isinstance(selection, dict):
        return _check('polling_tentacles', 'skipped', 'targets and workers were not read')
    count = selection.get('polling_total', 0)
    details = dict(polling_total=count, polling=selection.get('polling') or [])
    if not count:
        return _check('polling_tentacles', 'passed', 'the cluster has no polling Tentacles', details)
    exempt, why = _redis_exempt(data)
    details['exempt_reason'] = why
    if exempt:
        return _check('polling_tentacles', 'passed', '%d polling Tentacle(s); %s' % (count, why), details)
    message = ('%d polling Tentacle(s) (%s) must also poll this new node (Tentacle poll-server), or they will never '
               'run its tasks; %s' % (count, ', '.join(details['polling'][:5]) + (', ...' if count > 5 else ''), why))
    if (data.get('polling') or {}).get('fail'):
        return _check('polling_tentacles', 'failed', message, details)
    warnings.append(message)
    details['warning'] = True
    return _check('polling_tentacles', 'passed', 'warning: ' + message, details)


def _check_external_web(data):
    external = data.get('external')
    if not isinstance(external, dict):
        return _check('external_web', 'skipped', 'the node was not checked from outside')
    url, source = external.get('url'), external.get('from') or 'the controller'
    details = dict(url=url, checked_from=source, prefixes=external.get('prefixes'))
    if not url:
        return _check('external_web', 'failed', 'every web listen prefix is bound to localhost (%s), so neither the load '
                      'balancer nor the other nodes can reach the node; add a wildcard prefix such as http://+:80/'
                      % ', '.join(to_text(p) for p in external.get('prefixes') or []), details)
    web = external.get('web') or {}
    status = _to_int(web.get('status'))
    details['status_code'] = status
    if status in (200, 418):
        return _check('external_web', 'passed', '%s answered %s/api/octopusservernodes/ping with %d' % (source, url, status),
                      details)
    hint = (' (HTTP.sys answers 400 when the Host header matches no listen prefix: use a wildcard prefix such as '
            'http://+:80/)' if status == 400 else '')
    return _check('external_web', 'failed', 'the node is not reachable from %s at %s: %s%s' % (
        source, url, to_text(web.get('msg') or 'status %s' % status), hint), details)


def _check_external_comms(data):
    external = data.get('external')
    if not isinstance(external, dict) or not isinstance(external.get('comms'), dict):
        return _check('external_comms', 'skipped', 'the comms port was not checked from outside')
    comms, source = external['comms'], external.get('from') or 'the controller'
    target = '%s:%s' % (comms.get('host'), comms.get('port'))
    details = dict(host=comms.get('host'), port=comms.get('port'), checked_from=source)
    if comms.get('failed') in (False, 'False', 'false'):
        return _check('external_comms', 'passed', 'the comms port %s accepts TCP connections from %s' % (target, source),
                      details)
    details['error'] = to_text(comms.get('msg') or 'connection failed')
    return _check('external_comms', 'failed', 'the comms port %s is not reachable from %s (polling Tentacles and the '
                  'firewall rule of server_configure): %s' % (target, source, details['error']), details)


def _summary_lines(node, checks, passed):
    width = max([len('check')] + [len(c['name']) for c in checks])
    lines = ['node_verify %s: %s' % (node or '', 'PASSED' if passed else 'FAILED'),
             '%s  %-7s  %s' % ('check'.ljust(width), 'status', 'reason')]
    for check in checks:
        reason = check['reason']
        if len(reason) > 200:
            reason = reason[:197] + '...'
        lines.append('%s  %-7s  %s' % (check['name'].ljust(width), check['status'], reason))
    return lines


def build_report(observations, node_name=None):
    """Build the node verification report from the role's raw observations."""
    if not isinstance(observations, dict):
        raise VerifyError('expected a dict of observations')
    data = observations
    warnings = []
    checks = [
        _check_node_api(data),
        _check_version(data),
        _check_database(data),
        _check_storage(data),
        _check_tentacles(data),
        _check_endpoints(data, 'feeds', 'external_feeds', 'the cluster has no external feeds with an http(s) URI'),
        _check_endpoints(data, 'cloud', 'cloud_endpoints', 'no cloud endpoints configured (node_verify_cloud_endpoints)'),
        _check_polling(data, warnings),
        _check_external_web(data),
        _check_external_comms(data),
    ]
    skip = set(data.get('skip_checks') or [])
    for check in checks:
        if check['name'] in skip:
            check.update(status='skipped', reason='skipped by node_verify_skip_checks (was %s: %s)'
                         % (check['status'], check['reason']))
    failed = [c['name'] for c in checks if c['status'] == 'failed']
    passed = not failed
    node = node_name or data.get('node_name')
    message = ('node %s verified: %s' % (node, ', '.join(c['name'] for c in checks if c['status'] == 'passed'))
               if passed else 'node %s failed verification: %s' % (
                   node, ' | '.join('%s: %s' % (c['name'], c['reason']) for c in checks if c['status'] == 'failed')))
    return dict(
        node=node,
        passed=passed,
        failed=failed,
        checks=checks,
        warnings=warnings,
        message=message,
        summary_lines=_summary_lines(node, checks, passed),
    )

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The one retry rule for writes (issue 8 section 6, issue 12 section 1): re-read, then decide.

PUT (put_node and OctopusClient.put), POST (cancel_task) and DELETE (OctopusClient.delete) all go
through ``write_with_reread`` in _octopus_api: a write is sent once; after an unknown outcome
(connection error or timeout, 429, 500, 502-504) the object is read again, and only when the
change is not there is it written again, after a pause that honours Retry-After but never passes
what is left of request_deadline. Attempts are counted and one warning is reported per write.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, OctopusClient, write_with_reread
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import put_node
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import cancel_task
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched

NODE_A = 'OctopusServerNodes-A'
TASK = dict(Id='ServerTasks-1', SpaceId='Spaces-1')


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    server.add_node('A', max_tasks=3)
    server.add_node('B')
    return server


def methods(octo):
    return [m for m, p, q, b in octo.log]


# ---- PUT -----------------------------------------------------------------------------------

def test_put_retry_after_is_capped_at_the_remaining_deadline(octo, clock):
    """The old PUT loop slept a 45 s Retry-After although request_deadline was 5 s."""
    octo.fault('PUT', '.', status=429, count=100, headers={'Retry-After': '45'})
    client = OctopusClient(URL, KEY, request_deadline=5, max_retries=5)
    with pytest.raises(OctopusApiError) as err:
        put_node(client, NODE_A, dict(IsInMaintenanceMode=True))
    assert sum(clock.sleeps) <= 5, clock.sleeps
    assert err.value.status == 429
    assert 'Retry-After' in str(err.value) and 'request_deadline' in str(err.value)
    assert octo.count('PUT') == 1 and methods(octo) == ['GET', 'PUT', 'GET']
    assert len([w for w in client.warnings if 'rate limited' in w]) == 1


def test_put_waits_for_retry_after_then_reads_before_writing_again(octo, clock):
    octo.fault('PUT', '.', status=429, count=1, headers={'Retry-After': '7'})
    client = OctopusClient(URL, KEY, request_deadline=60)
    after, changed = put_node(client, NODE_A, dict(IsInMaintenanceMode=True))
    assert changed is True and after['IsInMaintenanceMode'] is True
    assert methods(octo) == ['GET', 'PUT', 'GET', 'PUT']
    assert clock.sleeps == [7.0]
    assert len(client.warnings) == 1 and 'rate limited' in client.warnings[0] and '2 attempts' in client.warnings[0]


def test_put_after_a_lost_answer_builds_the_next_body_from_the_new_read(octo):
    """Someone renamed the node and changed its cap between our two attempts: the second PUT keeps them."""
    octo.fault('PUT', '.', status=503, count=1)

    def someone_else(method, path):
        if method == 'GET' and octo.count('PUT') == 1:
            octo.nodes[NODE_A].update(Name='A-renamed', MaxConcurrentTasks=9)
    octo.on_request = someone_else
    put_node(OctopusClient(URL, KEY), NODE_A, dict(IsInMaintenanceMode=True))
    last = [b for m, p, q, b in octo.log if m == 'PUT'][-1]
    assert last['Name'] == 'A-renamed' and last['MaxConcurrentTasks'] == 9 and last['IsInMaintenanceMode'] is True


def test_client_put_is_never_repeated_blindly(octo):
    octo.fault('PUT', '.', status=503, count=1)
    client = OctopusClient(URL, KEY)
    client.put('octopusservernodes/%s' % NODE_A, dict(Id=NODE_A, Name='A', MaxConcurrentTasks=3, IsInMaintenanceMode=True))
    assert methods(octo) == ['PUT', 'GET', 'PUT']
    assert client.mutating_requests_sent == 1


def test_client_put_settled_by_the_read_is_not_sent_again(octo):
    octo.fault('PUT', '.', kind='timeout', phase='after')
    client = OctopusClient(URL, KEY)
    client.put('octopusservernodes/%s' % NODE_A, dict(Id=NODE_A, Name='A', MaxConcurrentTasks=3, IsInMaintenanceMode=True))
    assert methods(octo) == ['PUT', 'GET']
    assert client.mutating_requests_sent == 1, 'the read proved that our write landed'


# ---- DELETE --------------------------------------------------------------------------------

def test_delete_after_a_lost_answer_reads_instead_of_deleting_again(octo):
    octo.fault('DELETE', '.', kind='timeout', phase='after')
    client = OctopusClient(URL, KEY)
    assert client.delete('octopusservernodes/%s' % NODE_A) is True
    # The re-read answers 404; the client then reads GET /api once to prove that url is an Octopus Server
    # (a wrong url must not turn a removal into "already gone").
    expected = [('DELETE', 'octopusservernodes/%s' % NODE_A), ('GET', 'octopusservernodes/%s' % NODE_A), ('GET', '')]
    assert [(m, p) for m, p, q, b in octo.log] == expected
    assert NODE_A not in octo.nodes


def test_delete_that_did_not_land_is_sent_again_after_the_read(octo, clock):
    octo.fault('DELETE', '.', status=503, count=1, headers={'Retry-After': '3'})
    client = OctopusClient(URL, KEY)
    assert client.delete('octopusservernodes/%s' % NODE_A) is True
    assert methods(octo) == ['DELETE', 'GET', 'DELETE']
    assert clock.sleeps == [3.0]


def test_delete_of_a_missing_node_is_false_without_retry(octo):
    client = OctopusClient(URL, KEY)
    assert client.delete('octopusservernodes/OctopusServerNodes-Z') is False
    # No retry of the DELETE: only the one read of GET /api that proves the 404 came from an Octopus Server.
    assert [(m, p) for m, p, q, b in octo.log] == [('DELETE', 'octopusservernodes/OctopusServerNodes-Z'), ('GET', '')]


# ---- POST ----------------------------------------------------------------------------------

def test_cancel_honours_retry_after(octo, clock):
    """The old cancel loop slept 2 s whatever Retry-After said."""
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=429, count=1, headers={'Retry-After': '9'})
    client = OctopusClient(URL, KEY)
    assert cancel_task(client, TASK) == 'cancelled'
    assert methods(octo) == ['POST', 'GET', 'POST']
    assert clock.sleeps == [9.0]
    assert len(client.warnings) == 1 and 'rate limited' in client.warnings[0]


def test_cancel_retry_after_beyond_the_deadline_reads_once_and_fails(octo, clock):
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=429, count=100, headers={'Retry-After': '600'})
    client = OctopusClient(URL, KEY, request_deadline=30)
    with pytest.raises(OctopusApiError) as err:
        cancel_task(client, TASK)
    assert clock.sleeps == []
    assert methods(octo) == ['POST', 'GET']
    assert 'Retry-After' in str(err.value) and 'request_deadline' in str(err.value)


# ---- the helper itself ---------------------------------------------------------------------

def test_helper_counts_attempts_and_stops_at_max_retries(octo, clock):
    octo.fault('PUT', '.', status=502, count=100)
    client = OctopusClient(URL, KEY, max_retries=2, request_deadline=1000)
    with pytest.raises(OctopusApiError) as err:
        put_node(client, NODE_A, dict(IsInMaintenanceMode=True))
    assert octo.count('PUT') == 3
    assert err.value.retries == 2 and 'sent 3 times' in str(err.value)
    assert len(client.warnings) == 1


@pytest.mark.parametrize('status', [400, 401, 403, 409])
def test_helper_does_not_retry_a_refusal(octo, clock, status):
    octo.fault('PUT', '.', status=status, count=100)
    client = OctopusClient(URL, KEY)
    with pytest.raises(OctopusApiError) as err:
        put_node(client, NODE_A, dict(IsInMaintenanceMode=True))
    assert err.value.status == status
    assert methods(octo) == ['GET', 'PUT'] and clock.sleeps == []
    assert client.warnings == []


def test_helper_pause_grows_with_attempts_and_never_passes_the_deadline(octo, clock):
    octo.fault('PUT', '.', status=503, count=100)
    client = OctopusClient(URL, KEY, max_retries=20, request_deadline=20)
    with pytest.raises(OctopusApiError):
        put_node(client, NODE_A, dict(IsInMaintenanceMode=True))
    assert clock.sleeps[:3] == [1.0, 2.0, 4.0]
    assert sum(clock.sleeps) <= 20


def test_helper_reports_no_warning_when_the_first_attempt_works(octo):
    client = OctopusClient(URL, KEY)
    result = write_with_reread(client, 'update the thing', lambda: {'ok': True}, lambda: None)
    assert result.value == {'ok': True} and result.written and result.attempts == 1
    assert client.warnings == []


def test_write_warning_reaches_the_module_result_once(octo, capsys):
    octo.fault('PUT', '.', status=429, count=1, headers={'Retry-After': '2'})
    args = dict(url=URL, api_key=KEY, name='A', state='drained', wait=False)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            octopus_node.main()
    result = json.loads(capsys.readouterr().out)
    texts = [w if isinstance(w, str) else str((w.get('event') or {}).get('msg') or w.get('msg')) for w in result.get('warnings') or []]
    assert len([t for t in texts if 'rate limited' in t]) == 1, texts
    assert result['changed'] is True

# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Issue 8 §1: every boolean of octopus.ha.scale_in means the same as a YAML value, a `-e k=v` string or a survey answer.

`ansible-playbook octopus.ha.scale_in -e node_remove_force=false` used to cancel the running deployment and
delete the node: the role read the string 'false' as true. Each row below runs the playbook the way an
operator does, with `-e key=value` strings (or, for the AWX/EDA rows, JSON extra vars whose values are
strings), and asserts what the variable did, on the simulator's state and request log.

The target node runs a deployment that never ends during the test (its duration is a simulated day), so
the drain deadline always passes with the task still running, however slow the machine is. The
simulator runs at 60x so that a cancellation, which only the owning node completes, lands within a
few real seconds; the deadline for that (node_remove_cancel_timeout) is generous and only bounds a hang.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from scale_in_runner import TARGET, by_method, cluster, node_names, requests_since, task_states

COMMON = ['-e', 'node_remove_drain_timeout=3', '-e', 'node_remove_poll_interval=1', '-e', 'node_remove_max_poll_interval=1',
          '-e', 'node_remove_cancel_timeout=240']
ONE_DAY = 86400


def _busy_cluster(sim_factory):
    sim = sim_factory(cluster(speed=60))
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=ONE_DAY)
    return sim, task['Id']


def _e(**variables):
    args = []
    for key, value in variables.items():
        args += ['-e', '%s=%s' % (key, value)]
    return args


def _outcome(sim, task_id):
    log = requests_since(sim)
    return dict(deleted=TARGET not in node_names(sim), task=task_states(sim)[task_id],
                cancels=len(by_method(log, 'POST', r'/cancel$')), deletes=len(by_method(log, 'DELETE', r'/octopusservernodes/')))


# (variable, value as typed by the operator, how it is given, expected outcome)
#   kept:      the role fails at the drain deadline, the node stays (drained), nothing is cancelled or deleted
#   cancelled: the task is cancelled at the deadline, then the node record is deleted
#   forced:    the deadline is not fatal: the leftover task is cancelled, the node is deleted
ROWS = [
    ('node_remove_force', 'false', 'cli', 'kept'),
    ('node_remove_force', 'no', 'cli', 'kept'),
    ('node_remove_force', 'False', 'survey', 'kept'),
    ('node_remove_force', 'yes', 'cli', 'forced'),
    ('node_remove_force', '1', 'survey', 'forced'),
    ('node_remove_cancel_on_timeout', '0', 'cli', 'kept'),
    ('node_remove_cancel_on_timeout', 'True', 'cli', 'cancelled'),
]


@pytest.mark.parametrize('variable,value,given,expected', ROWS, ids=['%s=%s-%s' % (r[0], r[1], r[2]) for r in ROWS])
def test_a_boolean_means_the_same_however_it_is_given(sim_factory, scale_in, variable, value, given, expected):
    sim, task_id = _busy_cluster(sim_factory)
    if given == 'cli':
        result = scale_in(sim, extra_vars={}, args=COMMON + _e(**{variable: value}))
    else:
        # An AWX survey (multiple choice) or an EDA event passes the answer as a JSON string.
        result = scale_in(sim, extra_vars={variable: value}, args=COMMON)
    outcome = _outcome(sim, task_id)
    if expected == 'kept':
        assert result.rc != 0, result.explain()
        assert 'still' in result.messages() or 'drain_timeout' in result.messages(), result.explain()
        assert outcome == dict(deleted=False, task='Executing', cancels=0, deletes=0), result.explain()
        node = [n for n in sim.control.state()['nodes'] if n['Name'] == TARGET][0]
        assert node['IsInMaintenanceMode'] is True, 'the node stays drained for a re-run'
    else:
        assert result.rc == 0, result.explain()
        assert outcome['deleted'] and outcome['deletes'] == 1, (outcome, result.explain())
        assert outcome['cancels'] == 1 and outcome['task'] in ('Canceled', 'Cancelling', 'Failed'), (outcome, result.explain())


def test_a_value_that_is_not_a_boolean_fails_before_any_request_naming_the_variable(sim_factory, scale_in):
    sim, task_id = _busy_cluster(sim_factory)
    result = scale_in(sim, extra_vars={}, args=COMMON + _e(node_remove_force='maybe'))
    assert result.rc != 0
    assert 'node_remove_force' in result.messages(), result.explain()
    assert requests_since(sim) == [], 'nothing was read or changed'
    assert task_states(sim)[task_id] == 'Executing'


def test_an_integer_given_as_text_is_an_integer_and_a_bad_one_names_the_variable(sim_factory, scale_in):
    sim, dummy = _busy_cluster(sim_factory)
    result = scale_in(sim, extra_vars={}, args=COMMON + _e(node_remove_min_task_nodes='3'))
    assert result.rc != 0
    assert 'min_task_nodes is 3' in result.messages(), result.explain()
    bad = scale_in(sim, extra_vars={}, args=COMMON + _e(node_remove_drain_timeout='ten'))
    assert bad.rc != 0
    assert 'node_remove_drain_timeout' in bad.messages(), bad.explain()
    assert by_method(requests_since(sim), 'PUT') == [], 'the guard refused and the bad value failed before any change'


def test_tls_validation_from_a_cli_string(simulator_factory, scale_in, tmp_path):
    """octopus_validate_certs=False (a string) turns validation off; 'TRUE' keeps it on against a private CA."""
    sim = simulator_factory(cluster(), tls=True)
    off = scale_in(sim, node='OCTO-NODE-02', extra_vars={}, args=COMMON + _e(octopus_validate_certs='False'))
    assert off.rc == 0, off.explain()
    assert 'OCTO-NODE-02' not in node_names(sim)
    on = scale_in(sim, node='OCTO-NODE-01', extra_vars={}, args=COMMON + _e(octopus_validate_certs='TRUE'))
    assert on.rc != 0
    assert 'certificate' in on.messages().lower(), on.explain()
    assert 'OCTO-NODE-01' in node_names(sim)


PLAY_DEFAULTS = '''
- name: A play that sets the connection once, for the modules and the roles
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ sim_url }}"
      api_key: "{{ sim_key }}"
  tasks:
    - name: Remove a node with the role
      ansible.builtin.include_role:
        name: octopus.ha.node_remove
      vars:
        node_remove_name: OCTO-NODE-02
'''


def test_the_role_keeps_the_plays_module_defaults_and_never_shows_the_key(sim_factory, scale_in):
    """Issue 11 §1: a role passes on only what was set, so play-level module_defaults still apply."""
    from octosim.testing import ADMIN_KEY
    sim = sim_factory(cluster())
    result = scale_in(sim, node=None, playbook=PLAY_DEFAULTS, url='', api_key='', verbosity=3,
                      extra_vars={'sim_url': sim.url, 'sim_key': ADMIN_KEY})
    assert result.rc == 0, result.explain()
    assert 'OCTO-NODE-02' not in node_names(sim)
    assert ADMIN_KEY not in result.stdout + result.stderr
    bad = scale_in(sim, node=None, playbook=PLAY_DEFAULTS, url='', api_key='', args=_e(octopus_validate_certs='sometimes'),
                   extra_vars={'sim_url': sim.url, 'sim_key': ADMIN_KEY})
    assert bad.rc != 0
    assert 'octopus_validate_certs' in bad.stdout + bad.stderr, bad.explain()

# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health, maintenance mode, licence, spaces, machines/workers/feeds/accounts, stopped task queues."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

SPACE = {
    'Id': 'Spaces-1', 'Name': 'Default', 'IsDefault': True,
    'machines': [{'Name': 'web-01', 'Uri': 'https://web-01:10933/', 'Thumbprint': 'AA' * 20, 'Roles': ['web']},
                 {'Name': 'web-02', 'Thumbprint': 'BB' * 20, 'IsDisabled': True, 'HealthStatus': 'Unavailable'},
                 {'Name': 'poll-01', 'CommunicationStyle': 'TentacleActive', 'Thumbprint': 'CC' * 20}],
    'workers': [{'Name': 'worker-01', 'Thumbprint': 'DD' * 20},
                {'Name': 'worker-02', 'CommunicationStyle': 'TentacleActive', 'Thumbprint': 'EE' * 20}],
    'feeds': [{'Name': 'Built-in', 'FeedType': 'BuiltIn'},
              {'Name': 'nuget.org', 'FeedType': 'NuGet', 'FeedUri': 'https://api.nuget.org/v3/index.json'}],
    'accounts': [{'Name': 'aws', 'AccountType': 'AmazonWebServicesAccount', 'AccessKey': 'AKIA0000'},
                 {'Name': 'azure', 'AccountType': 'AzureServicePrincipal'}],
}
CLUSTER = {'nodes': [{'Name': 'A', 'PollOffset': 1}, {'Name': 'B', 'PollOffset': 2}],
           'spaces': [SPACE, {'Id': 'Spaces-2', 'Name': 'Frozen', 'TaskQueueStopped': True}],
           'license': {'node_limit': 2}}


def drain(sim, name):
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-%s' % name)
    node['IsInMaintenanceMode'] = True
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-%s' % name, node)[0] == 200


def test_health(make_sim):
    sim = make_sim(CLUSTER)
    status, dummy, body = sim.request('GET', 'serverstatus/health', api_key=None)
    assert status == 200 and body['IsOperatingNormally'] is True
    drain(sim, 'A')
    assert sim.request('GET', 'serverstatus/health')[0] == 200
    drain(sim, 'B')
    status, dummy, body = sim.request('GET', 'serverstatus/health')
    assert status == 418
    assert body['IsEntireClusterDrainingTasks'] is True and body['IsOperatingNormally'] is False


def test_maintenance_mode(make_sim):
    sim = make_sim(CLUSTER)
    status, dummy, body = sim.request('GET', 'maintenanceconfiguration')
    assert (status, body['IsInMaintenanceMode']) == (200, False)
    status, dummy, body = sim.request('PUT', 'maintenanceconfiguration', {'Id': 'maintenance', 'IsInMaintenanceMode': True})
    assert (status, body['IsInMaintenanceMode']) == (200, True)
    status, dummy, body = sim.request('GET', 'serverstatus/health')
    assert status == 418 and body['IsEntireClusterReadOnly'] is True
    assert sim.request('GET', 'serverstatus')[2]['IsInMaintenanceMode'] is True
    assert sim.request('PUT', 'maintenanceconfiguration', {'IsInMaintenanceMode': 'yes'})[0] == 400


def test_license_counts_nodes_that_are_not_offline(make_sim):
    sim = make_sim(CLUSTER)
    body = sim.request('GET', 'licenses/licenses-current-status')[2]
    limit = body['Limits'][0]
    assert (limit['Name'], limit['CurrentUsage'], limit['EffectiveLimit'], body['IsCompliant']) == ('Nodes', 2, 2, True)
    sim.control.add_node('C')
    body = sim.request('GET', 'licenses/licenses-current-status')[2]
    assert body['IsCompliant'] is False and body['Limits'][0]['Disposition'] == 'Error' and body['Messages']
    assert sim.request('GET', 'serverstatus/health')[2]['IsCompliantWithLicense'] is False
    sim.control.stop_node('C')
    sim.control.advance(61)
    body = sim.request('GET', 'licenses/licenses-current-status')[2]
    assert body['IsCompliant'] is True and body['Limits'][0]['CurrentUsage'] == 2


def test_spaces(make_sim):
    sim = make_sim(CLUSTER)
    page = sim.request('GET', 'spaces')[2]
    assert [s['Id'] for s in page['Items']] == ['Spaces-1', 'Spaces-2']
    assert sim.request('GET', 'spaces?partialName=froz')[2]['Items'][0]['TaskQueueStopped'] is True
    assert sim.request('GET', 'spaces/Spaces-1')[2]['IsDefault'] is True
    assert sim.request('GET', 'spaces/Spaces-9')[0] == 404
    assert sim.request('GET', 'Spaces-1')[2]['Links']['Self'] == '/api/Spaces-1'


def test_machines_and_workers(make_sim):
    sim = make_sim(CLUSTER)
    page = sim.request('GET', 'Spaces-1/machines')[2]
    assert page['ItemType'] == 'DeploymentTarget' and page['TotalResults'] == 3
    web = page['Items'][0]
    assert web['Endpoint'] == {'Id': 'endpoint-machines-1', 'CommunicationStyle': 'TentaclePassive', 'Uri': 'https://web-01:10933/',
                               'Thumbprint': 'AA' * 20, 'LastModifiedOn': None, 'LastModifiedBy': None, 'Links': {}}
    assert (web['Uri'], web['Thumbprint'], web['Roles'], web['SpaceId']) == ('https://web-01:10933/', 'AA' * 20, ['web'], 'Spaces-1')
    listening = sim.request('GET', 'Spaces-1/machines?commStyles=TentaclePassive')[2]['Items']
    assert [m['Name'] for m in listening] == ['web-01', 'web-02']
    assert [m['Name'] for m in sim.request('GET', 'machines?commStyles=TentacleActive')[2]['Items']] == ['poll-01']
    assert [m['Name'] for m in sim.request('GET', 'spaces/Spaces-1/machines?isDisabled=false&healthStatuses=Healthy')[2]['Items']] == [
        'web-01', 'poll-01']
    assert sim.request('GET', 'Spaces-1/machines?thumbprint=' + 'bb' * 20)[2]['Items'][0]['Name'] == 'web-02'
    assert sim.request('GET', 'Spaces-1/machines/Machines-3')[2]['Uri'].startswith('poll://')
    assert sim.request('GET', 'Spaces-1/machines/Machines-9')[0] == 404
    assert len(sim.request('GET', 'Spaces-1/machines/all')[2]) == 3
    assert sim.request('GET', 'Spaces-2/machines')[2]['TotalResults'] == 0
    workers = sim.request('GET', 'Spaces-1/workers?commStyles=TentaclePassive')[2]
    assert workers['ItemType'] == 'Worker'
    assert [(w['Name'], w['WorkerPoolIds']) for w in workers['Items']] == [('worker-01', ['WorkerPools-1'])]


def test_feeds_and_accounts(make_sim):
    sim = make_sim(CLUSTER)
    feeds = sim.request('GET', 'Spaces-1/feeds')[2]['Items']
    assert [(f['Name'], f['FeedType'], f.get('FeedUri')) for f in feeds] == [
        ('Built-in', 'BuiltIn', None), ('nuget.org', 'NuGet', 'https://api.nuget.org/v3/index.json')]
    assert [f['Name'] for f in sim.request('GET', 'feeds?feedType=NuGet')[2]['Items']] == ['nuget.org']
    accounts = sim.request('GET', 'Spaces-1/accounts?accountType=AmazonWebServicesAccount')[2]['Items']
    assert [(a['Name'], a['AccessKey']) for a in accounts] == [('aws', 'AKIA0000')]


def test_stopped_task_queue_is_not_picked_up(make_sim):
    sim = make_sim(CLUSTER)
    frozen = sim.control.add_task(Name='Deploy', SpaceId='Spaces-2', Duration=10)
    normal = sim.control.add_task(Name='Deploy', Duration=10)
    sim.control.advance(60)
    assert sim.control.task(frozen['Id'])['State'] == 'Queued'
    assert sim.control.task(normal['Id'])['State'] == 'Success'

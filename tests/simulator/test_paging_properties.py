# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property test of paging: following Page.Next from any start visits every task once, newest first,
and the page counters agree with TotalResults (in process, through the API dispatcher)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from urllib.parse import parse_qsl, urlsplit

import pytest

hypothesis = pytest.importorskip('hypothesis')

from hypothesis import given, settings, strategies as st  # noqa: E402  pylint: disable=wrong-import-position

from octosim import config as sim_config  # noqa: E402  pylint: disable=wrong-import-position
from octosim.api import OctopusApi, Request  # noqa: E402  pylint: disable=wrong-import-position
from octosim.model import Cluster  # noqa: E402  pylint: disable=wrong-import-position

ADMIN = {'name': 'admin', 'permissions': ['*']}


def get(api, url):
    split = urlsplit(url)
    query = {}
    req = Request('GET', split.path, query, None, api.cluster.nodes[0], ADMIN)
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(name.lower(), []).append(value)
        req.original_names.setdefault(name.lower(), name)
    return api.dispatch(req)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(total=st.integers(0, 50), take=st.integers(1, 40), states=st.lists(st.sampled_from(['Queued', 'Success', 'Failed']),
                                                                          min_size=50, max_size=50))
def test_following_page_next_visits_everything_once(total, take, states):
    cluster = Cluster(sim_config.load({'nodes': ['A']}), speed=0)
    for number in range(total):
        spec = {'Name': 'Deploy', 'State': states[number], 'QueuedAgo': 1000 - number, 'CompletedAgo': 10}
        if states[number] != 'Queued':
            spec['ServerNode'] = 'A'
        cluster.add_task(spec)
    api = OctopusApi(cluster)
    seen = []
    url = '/api/tasks?take=%d&spaces=all' % take
    pages = 0
    while url:
        status, page = get(api, url)
        assert status == 200
        assert page['TotalResults'] == total
        assert page['ItemsPerPage'] == take
        assert page['NumberOfPages'] == max(1, -(-total // take))
        assert page['LastPageNumber'] == page['NumberOfPages'] - 1
        assert len(page['Items']) <= take
        seen.extend(t['Id'] for t in page['Items'])
        url = page['Links'].get('Page.Next')
        pages += 1
        assert pages <= total + 1
    expected = ['ServerTasks-%d' % n for n in range(total, 0, -1)]
    assert seen == expected
    assert sum(page['TotalCounts'].values()) == total

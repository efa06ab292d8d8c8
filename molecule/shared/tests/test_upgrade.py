"""ha scenario: the side effect upgraded every node from v1.34.3+k3s1 to v1.34.4+k3s1."""

import pytest
from conftest import AGENTS, ALL, SCENARIO, SERVERS, events, host

pytestmark = pytest.mark.skipif(SCENARIO != "ha", reason="upgrade ordering is the ha scenario's side effect")

NEW = "v1.34.4+k3s1"


def upgrade_window(name):
    """(stop of the old version, ready of the new one) on this node."""
    ev = events(host(name))
    first_new = next(i for i, e in enumerate(ev) if e["version"] == NEW)
    stop = [e for e in ev[:first_new] if e["event"] == "stop"][-1]
    ready = next(e for e in ev[first_new:] if e["event"] == "ready")
    return stop["time"], ready["time"]


@pytest.mark.parametrize("name", ALL)
def test_every_node_runs_the_new_version(name):
    assert NEW in host(name).check_output("/usr/local/bin/k3s --version")
    starts = [e for e in events(host(name)) if e["event"] == "start"]
    assert [e["version"] for e in starts] == ["v1.34.3+k3s1", NEW]  # one install, one upgrade restart


def test_servers_restart_one_at_a_time():
    windows = sorted(upgrade_window(n) for n in SERVERS)
    assert len(windows) == 3
    for earlier, later in zip(windows, windows[1:]):
        assert earlier[1] < later[0], "two servers were down at once: %s" % windows


def test_servers_before_agents():
    last_server_ready = max(upgrade_window(n)[1] for n in SERVERS)
    first_agent_stop = min(upgrade_window(n)[0] for n in AGENTS)
    assert last_server_ready < first_agent_stop

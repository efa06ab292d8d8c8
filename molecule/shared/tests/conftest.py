"""Lab verification with testinfra over `podman exec` (much faster than via Ansible).

Hosts and groups come from the inventory Molecule wrote for the scenario.
"""

import json
import os

import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
LAB_ROOT = os.environ["LAB_ROOT"]
HOST_VARS = os.path.join(LAB_ROOT, "inventories", "lab", "host_vars")


def names(group):
    return sorted(RUNNER.get_hosts(group))


def host(name):
    return testinfra.get_host("podman://" + name)


def tailscale_ip(name):
    with open(os.path.join(HOST_VARS, name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["lab_tailscale_ip"]


def read_yaml(h, path):
    return yaml.safe_load(h.check_output("cat %s", path))


def events(h):
    text = h.check_output("cat /var/lib/rancher/k3s/standin/events.log")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def invocation(h):
    return json.loads(h.check_output("cat /var/lib/rancher/k3s/standin/invocation.json"))


SERVERS = names("k3s_server")
AGENTS = names("k3s_agent")
ALL = SERVERS + AGENTS
FIRST = SERVERS[0]


@pytest.fixture(scope="session")
def expected_version():
    return "v1.34.4+k3s1" if SCENARIO == "ha" else "v1.34.3+k3s1"


def pytest_configure(config):
    config.addinivalue_line("markers", "disruptive: stops and starts K3s units (runs after the checks of the converge)")


def pytest_collection_modifyitems(items):
    """Tests that stop and start units (marked disruptive), then the day-2 operations that restart
    the whole cluster (test_restore), run after every check of the converged lab, whatever the file order."""
    items.sort(key=lambda item: 2 if item.module.__name__ == "test_restore"
               else 1 if item.get_closest_marker("disruptive") else 0)

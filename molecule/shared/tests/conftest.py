"""Lab verification with testinfra over `podman exec` (much faster than via Ansible).

Hosts and groups come from the inventory Molecule wrote for the scenario.
"""

import json
import os
import re
import subprocess
import time

import kubernetes
import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
# A check whose steps do not depend on how many servers there are runs in one scenario (the time budget of make
# test): the default scenario, which has a server and both kinds of agent.
default_only = pytest.mark.skipif(SCENARIO != "default", reason="the same steps run in the default scenario")
LAB_ROOT = os.environ["LAB_ROOT"]
HOST_VARS = os.path.join(LAB_ROOT, "inventories", "lab", "host_vars")
KUBECONFIG = os.path.join(LAB_ROOT, ".cache", "lab", "kubeconfig")  # merged by k3s_server (inventories/lab)


def names(group):
    return sorted(RUNNER.get_hosts(group))


def host(name):
    return testinfra.get_host("podman://" + name)


def tailscale_ip(name):
    with open(os.path.join(HOST_VARS, name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["lab_tailscale_ip"]


def api_port():
    """The port the scenario's servers serve the API on (homelab_api_port; K3s's 6443 unless the inventory says)."""
    return int(RUNNER.get_variables(SERVERS[0]).get("homelab_api_port", 6443))


def local_api():
    """--server for K3s's client commands on a server (their default is https://127.0.0.1:6443, whatever port the
    server listens on), as a user whose API moved passes it."""
    return "https://127.0.0.1:%d" % api_port()


def client_for(server=None):
    """A Kubernetes client from the kubeconfig the servers merged on the controller (context homelab),
    optionally aimed at one server's API."""
    api = kubernetes.config.new_client_from_config(KUBECONFIG, context="homelab")
    if server:
        api.configuration.host = "https://%s:%d" % (tailscale_ip(server), api_port())
    return api


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


HANG_GUARD = 3600  # seconds: only catches a playbook that never ends


@pytest.fixture(scope="session")
def expected_version():
    """The version converge installed (the ha scenario's upgrade runs after these checks: test_upgrade)."""
    return "v1.34.3+k3s1"


def run_playbook(book, *extra):
    """ansible-playbook on the scenario's inventory, as a user runs it: (exit code, output)."""
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(LAB_ROOT, "playbooks", book)]
        + list(extra),
        capture_output=True, text=True, check=False, timeout=HANG_GUARD,
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"),
    )
    return run.returncode, run.stdout + run.stderr


def recap_changed(out):
    """changed= per host from ansible-playbook's PLAY RECAP."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)}


def wait_for(check, what, deadline=300):
    """check() until it returns something true; `deadline` seconds is an upper bound, never a pause."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < end, "not within %d s: %s" % (deadline, what)
        time.sleep(1)


def node_state():
    """What a refused day-2 playbook must leave alone: units (same start), datastores (same directory, same
    member). A node without K3s (reset, removed) has an empty state."""
    state = {}
    for name in SERVERS + AGENTS:
        h = host(name)
        unit = "k3s" if name in SERVERS else "k3s-agent"
        entry = [h.check_output("systemctl show %s -p ActiveState -p MainPID -p ActiveEnterTimestampMonotonic", unit)]
        if name in SERVERS:
            entry.append(h.run("stat -c %%i /var/lib/rancher/k3s/server/db/etcd").stdout)
            entry.append(h.run("cat /var/lib/rancher/k3s/server/db/etcd/name").stdout)
        state[name] = entry
    return state


def pytest_configure(config):
    config.addinivalue_line("markers", "disruptive: stops and starts K3s units (runs after the checks of the converge)")
    config.addinivalue_line("markers", "second_converge: the scenario's idempotence run (runs before everything else)")


def pytest_collection_modifyitems(items):
    """The second converge first (marked second_converge: the scenarios have no separate idempotence step);
    then every check of the converged lab; then tests that stop and start units (marked disruptive); then the
    day-2 operations, each module at its LAB_PHASE (upgrade 2, restore 3, node removal 4: it shrinks the
    cluster for good), whatever the file order."""

    def phase(item):
        if item.get_closest_marker("second_converge"):
            return -1
        return getattr(item.module, "LAB_PHASE", 1 if item.get_closest_marker("disruptive") else 0)

    items.sort(key=phase)

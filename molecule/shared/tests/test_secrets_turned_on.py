"""Secrets encryption on a running cluster (default scenario, one server): turning it on for a datastore
started without it (K3s does not support it) and turning it off through the inventory are refused; after
K3s's manual disable procedure the roles follow the inventory, and turning it on again encrypts every Secret
written while it was off (K3s's re-enable procedure: enable, restart, reencrypt --force --skip)."""

import base64
import json
import uuid

import kubernetes
import pytest
from conftest import FIRST, SCENARIO, client_for, host, local_api, node_state, recap_changed, run_playbook, wait_for
from test_secrets_encryption import status, stored

LAB_PHASE = 1.5  # conftest: after the disruptive checks, before restore (its snapshot is taken encrypted)
pytestmark = pytest.mark.skipif(SCENARIO != "default", reason="the default scenario has a single server")

CONFIG = "/etc/rancher/k3s/config.yaml"
KEY_FILE = "/var/lib/rancher/k3s/server/cred/encryption-config.json"


def make_secret(value):
    name = "turned-on-%s" % uuid.uuid4().hex[:6]
    kubernetes.client.CoreV1Api(client_for()).create_namespaced_secret(
        "default", {"metadata": {"name": name}, "data": {"v": base64.b64encode(value.encode()).decode()}})
    return name


def raw(name):
    return base64.b64decode(stored(name))


def k3s(command):
    return host(FIRST).check_output("k3s secrets-encrypt %s --server %s" % (command, local_api()))


def restart_server():
    host(FIRST).check_output("systemctl restart k3s")
    wait_for(lambda: host(FIRST).run("k3s secrets-encrypt status --output json --server %s", local_api()).rc == 0,
             "the server answers again")


def test_a_datastore_started_without_encryption_is_refused_and_nothing_changes():
    """K3s does not support turning encryption on for a datastore started without it (docs.k3s.io/cli/
    secrets-encrypt): a server with a database and no encryption configuration is refused with the advice."""
    before, config = node_state(), host(FIRST).file(CONFIG).content_string
    host(FIRST).check_output("mv %s /root/encryption-config.json.aside" % KEY_FILE)  # as if never encrypted
    try:
        rc, out = run_playbook("epic01_k3s.yml", "--limit", FIRST)
    finally:
        host(FIRST).check_output("mv /root/encryption-config.json.aside %s" % KEY_FILE)
    assert rc != 0 and "K3s does not support turning it on later" in out and "Nothing was changed" in out, out[-3000:]
    assert "k3s_server_secrets_encryption: false" in out
    assert node_state() == before and host(FIRST).file(CONFIG).content_string == config


def test_turning_encryption_off_through_the_inventory_is_refused():
    before, config = node_state(), host(FIRST).file(CONFIG).content_string
    rc, out = run_playbook("epic01_k3s.yml", "--limit", FIRST, "-e", "k3s_server_secrets_encryption=false")
    assert rc != 0 and "stores Secrets encrypted" in out and "Nothing was changed" in out, out[-3000:]
    assert node_state() == before and host(FIRST).file(CONFIG).content_string == config


def test_turned_on_again_every_secret_written_while_off_is_stored_encrypted():
    early = make_secret("written-while-encrypted")
    # K3s's documented disable procedure, by hand on the server.
    assert k3s("disable").strip() == "secrets-encryption disabled"
    restart_server()
    k3s("reencrypt --force --skip")
    assert not raw(early).startswith(b"k8s:enc:")
    # The inventory follows: the flag leaves config.yaml, the server restarts without it.
    rc, out = run_playbook("epic01_k3s.yml", "--limit", FIRST, "-e", "k3s_server_secrets_encryption=false")
    assert rc == 0, out[-3000:]
    assert "secrets-encryption" not in host(FIRST).file(CONFIG).content_string
    assert status(FIRST)["enable"] is False
    late = make_secret("written-while-off")
    assert not raw(late).startswith(b"k8s:enc:")
    # Back on with the inventory's default: every Secret written before is stored encrypted.
    rc, out = run_playbook("epic01_k3s.yml", "--limit", FIRST)
    assert rc == 0, out[-3000:]
    now = status(FIRST)
    assert (now["enable"], now["hashmatch"], now["activekey"]) == (True, True, "aescbckey"), now
    for name, value in ((early, "written-while-encrypted"), (late, "written-while-off")):
        assert raw(name).startswith(b"k8s:enc:aescbc:v1:aescbckey:") and value.encode() not in raw(name)
        read = kubernetes.client.CoreV1Api(client_for()).read_namespaced_secret(name, "default")
        assert base64.b64decode(read.data["v"]).decode() == value
    rc, out = run_playbook("epic01_k3s.yml", "--limit", FIRST)
    assert rc == 0 and not any(recap_changed(out).values()), out[-3000:]
    assert json.loads(k3s("status --output json")) == now

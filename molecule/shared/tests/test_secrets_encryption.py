"""Secrets encryption at rest (K3s's secrets-encryption) on the lab's real etcd, and key rotation.

Checks of the converge: every server reports encryption enabled, one key, matching hashes; a Secret
written through the API is stored as k8s:enc:aescbc:v1:<key>:... in etcd (its value never in clear).
The rotation: test_secrets_rotate.py.
"""

import base64
import json
import uuid

import kubernetes
import pytest
from conftest import AGENTS, FIRST, SERVERS, client_for, host, local_api, run_playbook

TLS = "/var/lib/rancher/k3s/server/tls/etcd"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=%s/server-ca.crt --cert=%s/client.crt --key=%s/client.key "
           "--endpoints=https://127.0.0.1:2379" % (TLS, TLS, TLS))
VALUE = "lab-secret-value-%s" % uuid.uuid4().hex[:8]


def status(name):
    return json.loads(host(name).check_output("k3s secrets-encrypt status --output json --server %s", local_api()))


def stored(name, namespace="default"):
    value = host(FIRST).check_output("%s get /registry/secrets/%s/%s --print-value-only | base64 -w0"
                                     % (ETCDCTL, namespace, name))
    assert value, "/registry/secrets/%s/%s is not in etcd" % (namespace, name)
    return value


@pytest.fixture(scope="module")
def secret():
    name = "encrypted-%s" % uuid.uuid4().hex[:6]
    kubernetes.client.CoreV1Api(client_for()).create_namespaced_secret(
        "default", {"metadata": {"name": name}, "data": {"password": base64.b64encode(VALUE.encode()).decode()}})
    return name


@pytest.mark.parametrize("name", SERVERS)
def test_every_server_runs_with_one_key_and_the_same_configuration(name):
    assert status(name) == {"stage": "start", "activekey": "aescbckey", "enable": True, "hashmatch": True}
    text = host(name).check_output("k3s secrets-encrypt status --server %s", local_api())
    assert text.splitlines()[:3] == ["Encryption Status: Enabled", "Current Rotation Stage: start",
                                     "Server Encryption Hashes: All hashes match"]
    f = host(name).file("/var/lib/rancher/k3s/server/cred/encryption-config.json")
    assert (f.user, f.mode) == ("root", 0o600)


def test_a_secret_is_stored_encrypted(secret):
    raw = base64.b64decode(stored(secret))
    assert raw.startswith(b"k8s:enc:aescbc:v1:aescbckey:")
    assert VALUE.encode() not in raw and base64.b64encode(VALUE.encode()) not in raw
    read = kubernetes.client.CoreV1Api(client_for()).read_namespaced_secret(secret, "default")
    assert base64.b64decode(read.data["password"]).decode() == VALUE


def verify_nodes():
    """playbooks/verify.yml's node checks, as a user runs them: (exit code, output)."""
    return run_playbook("verify.yml", "--tags", "verify_nodes")


def test_verify_reports_the_encryption_and_no_pending_reboot():
    rc, out = verify_nodes()
    assert rc == 0, out[-3000:]
    assert '"PASS secrets encryption: enabled, stage start, all servers match, active key aescbckey"' in out
    assert '"PASS reboot: no node waits for a reboot"' in out


def test_verify_warns_about_a_node_that_needs_a_reboot():
    node = AGENTS[-1]
    host(node).check_output("echo '*** System restart required ***' > /var/run/reboot-required")
    try:
        rc, out = verify_nodes()
    finally:
        host(node).check_output("rm -f /var/run/reboot-required")
    assert rc == 0, out[-3000:]  # a warning, not a failed check
    assert "WARN reboot: %s need(s) a reboot (/var/run/reboot-required): playbooks/reboot.yml" % node in out, out[-3000:]

"""playbooks/secrets_rotate.yml on the ha lab: servers out of step are refused (nothing changed), then the
rotation: a new key, the Secret written before re-encrypted under it, readable through every server."""

import base64

import kubernetes
import pytest
from conftest import FIRST, SCENARIO, SERVERS, client_for, host, run_playbook
from test_secrets_encryption import VALUE, secret, status, stored, verify_nodes  # noqa: F401  pylint: disable=unused-import

LAB_PHASE = 3.5  # conftest: after restore (its snapshot predates the rotation), before node removal
pytestmark = pytest.mark.skipif(SCENARIO != "ha", reason="the rotation restarts every server (ha scenario)")


def test_servers_out_of_step_are_refused(secret):
    core = kubernetes.client.CoreV1Api(client_for())
    last = SERVERS[-1]
    annotation = "k3s.io/encryption-config-hash"
    kept = core.read_node(last).metadata.annotations[annotation]
    core.patch_node(last, {"metadata": {"annotations": {annotation: "prepare-0000"}}})
    try:
        before = host(FIRST).file("/var/lib/rancher/k3s/server/cred/encryption-config.json").content_string
        rc, out = run_playbook("secrets_rotate.yml")
        assert rc != 0 and "Nothing was changed" in out, out[-3000:]
        after = host(FIRST).file("/var/lib/rancher/k3s/server/cred/encryption-config.json").content_string
        assert after == before
        rc, out = verify_nodes()
        assert rc != 0 and "FAIL secrets encryption: the servers disagree" in out, out[-3000:]
    finally:
        core.patch_node(last, {"metadata": {"annotations": {annotation: kept}}})


def test_rotation_re_encrypts_under_a_new_key_readable_everywhere(secret):
    rc, out = run_playbook("secrets_rotate.yml")
    assert rc == 0, out[-4000:]
    key = status(FIRST)["activekey"]
    assert key.startswith("aescbckey-") and all(status(n) == {
        "stage": "reencrypt_finished", "activekey": key, "enable": True, "hashmatch": True} for n in SERVERS)
    assert base64.b64decode(stored(secret)).startswith(b"k8s:enc:aescbc:v1:%s:" % key.encode())
    for name in SERVERS:
        read = kubernetes.client.CoreV1Api(client_for(name)).read_namespaced_secret(secret, "default")
        assert base64.b64decode(read.data["password"]).decode() == VALUE

"""The k3s stand-in's secrets encryption (lab_secrets.py) against K3s's documented behaviour
(docs.k3s.io/cli/secrets-encrypt): files, annotation stages, key rotation, the storage envelope.

The API is a dict of Nodes here; the lab runs the same code against its real API and etcd.
"""

import hashlib
import json
import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "standins", "k3s"))
import lab_secrets as se  # noqa: E402  pylint: disable=wrong-import-position,import-error

SERVERS = ["server-1", "server-2", "server-3"]


class Cluster:
    """Nodes by name, answering the three calls the encrypt handlers make."""

    def __init__(self):
        self.nodes = {name: {"metadata": {"name": name, "labels": {se.CONTROL_PLANE: "true"}, "annotations": {}}}
                      for name in SERVERS}

    def call(self, method, path, body=None):
        if path.startswith("/api/v1/nodes?"):
            return 200, {"items": list(self.nodes.values())}
        name = path.rsplit("/", 1)[1]
        if name not in self.nodes:
            return 404, {}
        if method == "PATCH":
            self.nodes[name]["metadata"]["annotations"].update(body["metadata"]["annotations"])
        return 200, self.nodes[name]

    def annotation(self, name):
        return self.nodes[name]["metadata"]["annotations"].get(se.ANNOTATION)


@pytest.fixture
def cluster(tmp_path):
    """Three servers started with secrets-encryption: one configuration (bootstrap data), each Node annotated."""
    api = Cluster()
    state = se.EncryptionState(str(tmp_path / "cred"))
    assert state.ensure() and not state.ensure()  # written once
    stages = {name: se.Stages(state, name, api.call, True) for name in SERVERS}
    for name in SERVERS:
        stages[name].bootstrap_annotation()
    return api, state, stages


def test_first_start_writes_k3s_files(cluster):
    api, state, _stages = cluster
    assert stat.S_IMODE(os.stat(state.config_path).st_mode) == 0o600
    doc = json.loads(state.raw())
    assert doc["kind"] == "EncryptionConfiguration" and doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert doc["resources"][0]["resources"] == ["secrets"]
    assert [list(p) for p in doc["resources"][0]["providers"]] == [["aescbc"], ["identity"]]
    assert [k["name"] for k in state.keys()] == ["aescbckey"]
    expected = "start-" + hashlib.sha256(state.raw()).hexdigest()
    assert state.annotation() == expected
    assert {api.annotation(n) for n in SERVERS} == {expected}


def test_status_as_k3s_reports_it(cluster):
    _api, _state, stages = cluster
    assert stages["server-1"].status() == {"stage": "start", "activekey": "aescbckey", "enable": True,
                                           "hashmatch": True}


def test_status_without_a_configuration(tmp_path):
    api = Cluster()
    status = se.Stages(se.EncryptionState(str(tmp_path)), "server-1", api.call, False).status()
    assert status == {"stage": "", "activekey": ""}  # the CLI prints "Disabled, no configuration file found"


def test_secrets_are_stored_encrypted_and_read_back(cluster):
    _api, state, _stages = cluster
    stored = se.encrypt(state, b'{"data": {"password": "c2VjcmV0"}}')
    assert stored.startswith(b"k8s:enc:aescbc:v1:aescbckey:") and b"c2VjcmV0" not in stored
    assert se.decrypt(state, stored) == b'{"data": {"password": "c2VjcmV0"}}'
    assert se.decrypt(state, b'{"plain": true}') == b'{"plain": true}'  # identity: written before encryption


def test_rotate_keys_reencrypts_and_keeps_only_the_new_key(cluster):
    api, state, stages = cluster
    before = se.encrypt(state, b"old secret")
    rewritten = []

    def secrets():
        rewritten.append(se.encrypt(state, se.decrypt(state, before)))
        return 1

    stages["server-1"].rotate_keys(secrets)
    names = [k["name"] for k in state.keys()]
    assert len(names) == 1 and names[0].startswith("aescbckey-") and names[0] != "aescbckey"
    assert rewritten[0].startswith(b"k8s:enc:aescbc:v1:" + names[0].encode() + b":")
    assert se.decrypt(state, rewritten[0]) == b"old secret"
    assert api.annotation("server-1") == "reencrypt_finished-" + state.config_hash() == state.annotation()
    status = stages["server-1"].status()
    assert status["stage"] == "reencrypt_finished" and status["activekey"] == names[0]
    # The other servers still carry the old hash until they restart (K3s's docs: restart them next).
    assert "hash does not match" in status["hasherror"]
    with pytest.raises(se.EncryptionError, match="no key of the encryption configuration matches k8s:enc:aescbc:v1:aescbckey:"):
        se.decrypt(state, before)  # the old key is gone: only rewritten secrets can be read


def test_rotate_keys_refuses_servers_out_of_step(cluster):
    api, state, stages = cluster
    api.nodes["server-3"]["metadata"]["annotations"][se.ANNOTATION] = "prepare-0123"
    config = state.raw()
    with pytest.raises(se.EncryptionError, match="hash does not match between"):
        stages["server-1"].rotate_keys(lambda: 0)
    assert state.raw() == config


def test_legacy_prepare_rotate_reencrypt(cluster):
    api, state, stages = cluster
    s1 = stages["server-1"]
    s1.prepare()
    assert [k["name"] for k in state.keys()][0] == "aescbckey" and len(state.keys()) == 2
    assert api.annotation("server-1").startswith("prepare-")
    with pytest.raises(se.EncryptionError, match="hash does not match"):
        s1.rotate()  # the other servers have not restarted with the prepared configuration
    for name in SERVERS[1:]:  # what their restart does: the configuration's annotation
        api.nodes[name]["metadata"]["annotations"][se.ANNOTATION] = state.annotation()
    s1.rotate()
    newest = state.keys()[0]["name"]
    assert newest != "aescbckey" and [k["name"] for k in state.keys()][1] == "aescbckey"
    for name in SERVERS[1:]:
        api.nodes[name]["metadata"]["annotations"][se.ANNOTATION] = state.annotation()
    count = []
    s1.reencrypt(lambda: count.append(1) or 3)
    assert count == [1] and [k["name"] for k in state.keys()] == [newest]
    assert api.annotation("server-1") == "reencrypt_finished-" + state.config_hash()


def test_a_step_out_of_order_is_refused(cluster):
    _api, _state, stages = cluster
    with pytest.raises(se.EncryptionError, match="incorrect stage: start"):
        stages["server-1"].rotate()


def test_disable_puts_identity_first_and_keeps_the_stage(cluster):
    api, state, stages = cluster
    before = api.annotation("server-1")
    stages["server-1"].enable(lambda: 0, False)
    assert [list(p) for p in state.providers()] == [["identity"], ["aescbc"]]
    assert se.encrypt(state, b"x") == b"x"  # new secrets are written plain
    assert api.annotation("server-1") == before  # --skip: back to the stage before
    assert stages["server-1"].status()["enable"] is False


def test_the_codec_encrypts_secrets_only_and_knows_what_a_rotation_left_stale(cluster):
    _api, state, stages = cluster
    codec = se.SecretsCodec(state, RuntimeError)
    secret, other = "/registry/secrets/default/db", "/registry/configmaps/default/db"
    stored = codec.encode(secret, b"{}")
    assert stored.startswith(b"k8s:enc:aescbc:v1:aescbckey:") and codec.encode(other, b"{}") == b"{}"
    assert codec.decode(secret, stored) == b"{}" and not codec.stale(secret, stored)
    assert codec.stale(secret, b"{}")  # written before encryption: the reencrypt rewrites it
    assert not codec.stale(other, b"{}")
    stages["server-1"].prepare()
    for name in SERVERS[1:]:
        _api.nodes[name]["metadata"]["annotations"][se.ANNOTATION] = state.annotation()
    stages["server-1"].rotate()
    assert codec.stale(secret, stored) and codec.decode(secret, stored) == b"{}"  # old key: read, then rewritten
    with pytest.raises(RuntimeError, match="unable to transform key"):
        codec.decode(secret, b"k8s:enc:aescbc:v1:gone:" + bytes(32))

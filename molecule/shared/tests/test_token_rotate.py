"""ha scenario: playbooks/token_rotate.yml, K3s's token rotation (conftest LAB_PHASE: after upgrade and reboot).

The k3s stand-in keeps the datastore's bootstrap key per token as K3s does (/bootstrap/<12 hex of
sha256(token)>) and refuses to start a server whose token does not match it. Rotation moves the key,
then every node restarts with the new token, one at a time; the tokens never appear in the output.
"""

import hashlib
import os
import secrets

import kubernetes
import pytest
import yaml
from conftest import ALL, FIRST, SCENARIO, SERVERS, client_for, events, host, node_state, recap_changed, run_playbook

pytestmark = pytest.mark.skipif(SCENARIO != "ha", reason="token rotation runs in the ha scenario")
LAB_PHASE = 2.7  # conftest: after the upgrade and the reboot, before restore
TLS = "/var/lib/rancher/k3s/server/tls/etcd"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=%s/server-ca.crt --cert=%s/client.crt --key=%s/client.key "
           "--endpoints=https://127.0.0.1:2379" % (TLS, TLS, TLS))
TOKEN_FILE = "/etc/rancher/k3s/token"


def bootstrap_keys():
    return host(FIRST).check_output(ETCDCTL + " get --prefix --keys-only /bootstrap/").split()


def key_of(token):
    return "/bootstrap/" + hashlib.sha256(token.encode()).hexdigest()[:12]


def ready_nodes():
    core = kubernetes.client.CoreV1Api(client_for())
    return sorted(n.metadata.name for n in core.list_node().items
                  if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []))


@pytest.fixture(scope="module")
def rotation(tmp_path_factory):
    old = host(FIRST).file(TOKEN_FILE).content_string.strip()
    new = secrets.token_hex(32)
    varsfile = tmp_path_factory.mktemp("token") / "new-token.yml"
    varsfile.write_text(yaml.safe_dump({"k3s_token_new": new}))
    os.chmod(varsfile, 0o600)
    assert bootstrap_keys() == [key_of(old)]  # K3s stored the bootstrap data under the cluster's token

    before = node_state()
    refused = run_playbook("token_rotate.yml") + (node_state() == before,)
    rc, out = run_playbook("token_rotate.yml", "-e", "@%s" % varsfile)
    assert rc == 0, out[-4000:]
    return {"old": old, "new": new, "out": out, "before": before, "refused": refused, "varsfile": varsfile}


def test_without_a_new_token_nothing_changes(rotation):
    rc, out, unchanged = rotation["refused"]
    assert rc != 0 and "give the new token: k3s_token_new" in out and "Nothing was changed" in out, out[-3000:]
    assert unchanged


def test_every_node_uses_the_new_token_and_was_restarted(rotation):
    for name in ALL:
        f = host(name).file(TOKEN_FILE)
        assert f.content_string.strip() == rotation["new"] and f.mode == 0o600 and f.user == "root", name
    after = node_state()
    assert [n for n in ALL if after[n] == rotation["before"][n]] == []
    assert ready_nodes() == sorted(ALL)


def test_the_datastore_knows_only_the_new_token(rotation):
    assert bootstrap_keys() == [key_of(rotation["new"])]


def test_tokens_never_printed(rotation):
    assert rotation["old"] not in rotation["out"] and rotation["new"] not in rotation["out"]


def test_a_server_with_the_old_token_is_refused_as_k3s_refuses_it(rotation):
    name = SERVERS[1]
    h = host(name)
    h.check_output("cp -p %s %s.new && printf %%s %s > %s", TOKEN_FILE, TOKEN_FILE, rotation["old"], TOKEN_FILE)
    try:
        assert h.run("systemctl restart k3s").rc != 0
        fatal = [e for e in events(h) if e["event"] == "fatal"][-1]  # what the binary logged before exiting 1
        assert "bootstrap data already found and encrypted with different token" in fatal["message"]
    finally:
        h.check_output("mv %s.new %s && systemctl reset-failed k3s && systemctl restart k3s", TOKEN_FILE, TOKEN_FILE)
    assert h.service("k3s").is_running


def test_running_it_again_changes_nothing(rotation):
    rc, out = run_playbook("token_rotate.yml", "-e", "@%s" % rotation["varsfile"])
    assert rc == 0, out[-3000:]
    changed = recap_changed(out)
    assert set(changed) >= set(ALL) and not any(changed.values()), changed

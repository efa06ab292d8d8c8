"""backup.yml and restore.yml on the lab's real etcd (tests/standins/k3s runs Debian's etcd).

Marker 1 is written, backup.yml copies a snapshot to the controller, marker 2 is written;
restore.yml then refuses bad requests without touching a node, and restores the snapshot:
marker 1 back, marker 2 gone, every server a healthy voting member, agents restarted.
Runs last (conftest): it restarts the cluster.
"""

import hashlib
import os
import shutil
import stat
import uuid

import pytest
from conftest import AGENTS, FIRST, SERVERS, default_only, host, local_api, node_state, run_playbook

LAB_PHASE = 3  # conftest: after the checks and the upgrade; it restarts the whole cluster
TLS = "/var/lib/rancher/k3s/server/tls/etcd"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=%s/server-ca.crt --cert=%s/client.crt --key=%s/client.key "
           "--endpoints=https://127.0.0.1:2379" % (TLS, TLS, TLS))
SNAPSHOTS = "/var/lib/rancher/k3s/server/db/snapshots"


def etcdctl(name, args):
    return host(name).check_output("%s %s" % (ETCDCTL, args))


def value(name, key):
    return etcdctl(name, "get --print-value-only %s" % key).strip()


def playbook(book, *extra, backups):
    return run_playbook(book, "-e", "k3s_backup_dir=%s" % backups, *extra)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    backups = str(tmp_path_factory.mktemp("backups") / "lab")
    marks = {"one": uuid.uuid4().hex, "two": uuid.uuid4().hex}
    etcdctl(FIRST, "put /homelab-test/marker-1 %s" % marks["one"])
    rc, out = playbook("backup.yml", backups=backups)
    assert rc == 0, out[-3000:]
    etcdctl(SERVERS[-1], "put /homelab-test/marker-2 %s" % marks["two"])
    copies = [f for f in os.listdir(backups) if not f.endswith(".sha256")]
    assert len(copies) == 1, copies
    return {"backups": backups, "snapshot": os.path.join(backups, copies[0]), "marks": marks, "backup_out": out}


def test_backup_copies_the_snapshot_with_its_checksum(lab):
    snapshot = lab["snapshot"]
    name = os.path.basename(snapshot)
    assert name.startswith("homelab-backup-%s-" % FIRST)  # K3s's <name>-<node>-<unix time>
    assert stat.S_IMODE(os.stat(lab["backups"]).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600
    with open(snapshot, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with open(snapshot + ".sha256", encoding="utf-8") as handle:
        assert handle.read() == "%s  %s\n" % (digest, name)
    on_server = host(FIRST).file("%s/%s" % (SNAPSHOTS, name))
    assert on_server.mode == 0o600 and on_server.sha256sum == digest
    assert snapshot in lab["backup_out"]  # it says where the backup went
    assert name in host(FIRST).check_output("/usr/local/bin/k3s etcd-snapshot ls --etcd-server %s", local_api())


def _damaged(lab, tmp_path):
    copy = tmp_path / os.path.basename(lab["snapshot"])
    shutil.copy(lab["snapshot"], copy)
    shutil.copy(lab["snapshot"] + ".sha256", str(copy) + ".sha256")
    with open(copy, "ab") as handle:
        handle.write(b"\0")
    return str(copy)


def _unverified(lab, tmp_path):
    copy = tmp_path / os.path.basename(lab["snapshot"])
    shutil.copy(lab["snapshot"], copy)
    return str(copy)


REFUSALS = {
    "without confirm": (lambda lab, tmp: ["-e", "k3s_restore_snapshot=" + lab["snapshot"]], "add -e confirm=yes"),
    "missing file": (lambda lab, tmp: ["-e", "confirm=yes", "-e", "k3s_restore_snapshot=%s/gone-n-1" % tmp],
                     "no snapshot file at"),
    "checksum mismatch": (lambda lab, tmp: ["-e", "confirm=yes", "-e", "k3s_restore_snapshot=" + _damaged(lab, tmp)],
                          "does not match"),
    "no checksum": (lambda lab, tmp: ["-e", "confirm=yes", "-e", "k3s_restore_snapshot=" + _unverified(lab, tmp)],
                    "k3s_restore_unverified=true"),
    "snapshot and reset": (lambda lab, tmp: ["-e", "confirm=yes", "-e", "k3s_cluster_reset=true",
                                             "-e", "k3s_restore_snapshot=" + lab["snapshot"]], "exactly one of them"),
    "unknown name on the server": (lambda lab, tmp: ["-e", "confirm=yes", "-e", "k3s_restore_snapshot=nothing-n-1"],
                                   "k3s etcd-snapshot ls"),
}


# Refused in restore.yml's first play, before a node is touched, and a snapshot's name resolved on the first server
# before the restore proper: the same steps on one server as on three (the ha scenario restores and resets quorum).
@default_only
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_restore_refuses_bad_requests_and_changes_nothing(lab, tmp_path, case):
    args, message = REFUSALS[case]
    before = node_state()
    rc, out = playbook("restore.yml", *args(lab, tmp_path), backups=lab["backups"])
    assert rc != 0, out[-2000:]
    assert message in out and "Nothing was changed" in out, out[-3000:]
    assert node_state() == before
    assert value(FIRST, "/homelab-test/marker-2") == lab["marks"]["two"]


def _agent_starts():
    return {a: host(a).check_output("systemctl show k3s-agent -p ActiveEnterTimestampMonotonic") for a in AGENTS}


def _assert_every_server_votes():
    for name in SERVERS:
        members = etcdctl(name, "member list -w simple").strip().splitlines()
        assert len(members) == len(SERVERS), members
        assert all(", started, " in m and m.endswith(", false") for m in members), members  # started, not a learner
        assert "is healthy" in host(name).check_output(ETCDCTL + " endpoint health 2>&1")


def test_restore_brings_back_the_snapshot(lab):
    agents_before = _agent_starts()
    rc, out = playbook("restore.yml", "-e", "confirm=yes", "-e", "k3s_restore_snapshot=" + lab["snapshot"],
                       backups=lab["backups"])
    assert rc == 0, out[-4000:]
    for name in SERVERS:
        assert value(name, "/homelab-test/marker-1") == lab["marks"]["one"]
        assert value(name, "/homelab-test/marker-2") == ""
        assert host(name).service("k3s").is_running
    _assert_every_server_votes()
    after = _agent_starts()
    for agent in AGENTS:
        assert host(agent).service("k3s-agent").is_running
        assert after[agent] != agents_before[agent]  # restarted against the restored servers


@default_only
def test_restore_of_a_snapshot_named_on_the_server(lab):
    """The name of a snapshot K3s keeps; its checksum is the controller's copy's .sha256."""
    etcdctl(FIRST, "put /homelab-test/marker-3 three")
    rc, out = playbook("restore.yml", "-e", "confirm=yes", "-e", "k3s_restore_snapshot=" + os.path.basename(lab["snapshot"]),
                       backups=lab["backups"])
    assert rc == 0, out[-4000:]
    assert value(FIRST, "/homelab-test/marker-3") == ""
    assert value(SERVERS[-1], "/homelab-test/marker-1") == lab["marks"]["one"]
    _assert_every_server_votes()


def test_cluster_reset_recovers_lost_quorum_keeping_the_data(lab):
    etcdctl(FIRST, "put /homelab-test/marker-4 four")
    for name in SERVERS[1:]:  # quorum lost: only the first server is left (HA)
        host(name).check_output("systemctl stop k3s")
    rc, out = playbook("restore.yml", "-e", "confirm=yes", "-e", "k3s_cluster_reset=true", backups=lab["backups"])
    assert rc == 0, out[-4000:]
    for name in SERVERS:
        assert value(name, "/homelab-test/marker-4") == "four"
    _assert_every_server_votes()
    assert not host(FIRST).file("/var/lib/rancher/k3s/server/db/reset-flag").exists  # K3s started normally since

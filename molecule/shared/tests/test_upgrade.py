"""ha scenario: playbooks/upgrade.yml moves every node from v1.34.3+k3s1 to v1.34.4+k3s1 safely.

Before it: refused requests (a downgrade, a skipped minor) change nothing. During it: a probe writes
a ConfigMap through the API of any server every 100 ms and reads it back: the cluster must take every
write (etcd keeps quorum; servers restart one at a time and each waits until its member votes again).
After it: the pre-upgrade snapshot exists, the pods of every drained node were evicted and run again,
no node is left cordoned; servers restarted one at a time, before the agents; a failing node (a
tampered checksum) ends uncordoned and no further node is touched; the same version changes nothing.
"""

import os
import shutil
import uuid

import kubernetes
import pytest
from conftest import (AGENTS, ALL, FIRST, LAB_ROOT, SCENARIO, SERVERS, client_for, events, host, node_state,
                      recap_changed, run_playbook, wait_for)
from lab_probe import WriteProbe

pytestmark = pytest.mark.skipif(SCENARIO != "ha", reason="the rolling upgrade runs in the ha scenario")
LAB_PHASE = 2  # conftest: after the checks of the converge (they expect the old version), before restore

OLD = "v1.34.3+k3s1"
NEW = "v1.34.4+k3s1"
ARTIFACTS = os.path.join(LAB_ROOT, ".cache", "lab", "artifacts")
SNAPSHOTS = "/var/lib/rancher/k3s/server/db/snapshots"


def pods(apps_label):
    core = kubernetes.client.CoreV1Api(client_for())
    return core.list_namespaced_pod("default", label_selector="app=%s" % apps_label).items


def ready_pods(label):
    return [p for p in pods(label) if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory):
    backups = str(tmp_path_factory.mktemp("backups") / "lab")
    label = "drain-probe-%s" % uuid.uuid4().hex[:6]
    apps = kubernetes.client.AppsV1Api(client_for())
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": label},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": label}},
                 "template": {"metadata": {"labels": {"app": label}},
                              "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}}},
    })
    before = wait_for(lambda: len(ready_pods(label)) == 2 and ready_pods(label), "the drain probe's pods Ready")

    refusals = {}
    for version, why in (("v1.36.0+k3s1", "skips a minor version"), ("v1.34.2+k3s1", "a downgrade")):
        state = node_state()
        rc, out = run_playbook("upgrade.yml", "-e", "k3s_version=" + version, "-e", "k3s_backup_dir=" + backups)
        refusals[version] = (rc, out, why, state == node_state())

    probe = WriteProbe(SERVERS)
    probe.start()
    try:
        rc, out = run_playbook("upgrade.yml", "-e", "k3s_version=" + NEW, "-e", "k3s_backup_dir=" + backups)
    finally:
        probe.stop()
    assert rc == 0, out[-4000:]
    return {"out": out, "probe": probe, "label": label, "before": before, "refusals": refusals, "backups": backups}


@pytest.mark.parametrize("version", ["v1.36.0+k3s1", "v1.34.2+k3s1"])
def test_refused_upgrades_change_nothing(upgrade, version):
    rc, out, why, unchanged = upgrade["refusals"][version]
    assert rc != 0 and why in out and "refused, nothing was changed" in out, out[-3000:]
    assert unchanged, "a refused upgrade touched a node"


def test_the_cluster_took_every_write_during_the_upgrade(upgrade):
    probe = upgrade["probe"]
    assert len(probe.ticks) > 100, "the probe hardly ran: %d writes" % len(probe.ticks)
    failed = probe.failed()
    assert not failed, "%d of %d writes found no server to take them, first: %s" % (
        len(failed), len(probe.ticks), failed[0])
    # It ran across the restarts: some writes had to go around a server that was down.
    assert probe.detoured(), "no write ever met a restarting server: the probe did not overlap the upgrade"


def test_pre_upgrade_snapshot_on_the_server_and_the_controller(upgrade):
    prefix = "pre-upgrade-%s-to-%s-%s-" % (OLD.replace("+", "-"), NEW.replace("+", "-"), FIRST)
    assert any(f.startswith(prefix) for f in host(FIRST).check_output("ls %s", SNAPSHOTS).split()), prefix
    assert any(f.startswith(prefix) and not f.endswith(".sha256") for f in os.listdir(upgrade["backups"]))


def test_drained_pods_were_evicted_and_run_again(upgrade):
    label = upgrade["label"]
    now = wait_for(lambda: len(ready_pods(label)) == 2 and ready_pods(label), "the drain probe's pods Ready again")
    old_uids = {p.metadata.uid for p in upgrade["before"]}
    assert not old_uids & {p.metadata.uid for p in now}, "a pod survived the drain of its node"


def test_no_node_is_left_cordoned(upgrade):
    core = kubernetes.client.CoreV1Api(client_for())
    assert [n.metadata.name for n in core.list_node().items if n.spec.unschedulable] == []


def upgrade_window(name):
    """(stop of the old version, ready of the new one) on this node."""
    ev = events(host(name))
    first_new = next(i for i, e in enumerate(ev) if e["version"] == NEW)
    stop = [e for e in ev[:first_new] if e["event"] == "stop"][-1]
    ready = next(e for e in ev[first_new:] if e["event"] == "ready")
    return stop["time"], ready["time"]


@pytest.mark.parametrize("name", ALL)
def test_every_node_runs_the_new_version(upgrade, name):
    assert NEW in host(name).check_output("/usr/local/bin/k3s --version")
    versions = [e["version"] for e in events(host(name)) if e["event"] == "start"]
    # The old version until the upgrade (the checks before it may restart units), then one upgrade restart.
    assert versions[-1] == NEW and versions.count(NEW) == 1 and set(versions[:-1]) == {OLD}, versions


def test_servers_restart_one_at_a_time(upgrade):
    windows = sorted(upgrade_window(n) for n in SERVERS)
    assert len(windows) == 3
    for earlier, later in zip(windows, windows[1:]):
        assert earlier[1] < later[0], "two servers were down at once: %s" % windows


def test_servers_before_agents(upgrade):
    last_server_ready = max(upgrade_window(n)[1] for n in SERVERS)
    first_agent_stop = min(upgrade_window(n)[0] for n in AGENTS)
    assert last_server_ready < first_agent_stop


def test_the_same_version_again_changes_nothing(upgrade):
    rc, out = run_playbook("upgrade.yml", "-e", "k3s_version=" + NEW, "-e", "k3s_backup_dir=" + upgrade["backups"])
    assert rc == 0, out[-3000:]
    changed = recap_changed(out)
    assert set(changed) == set(ALL) and not any(changed.values()), changed


def test_a_failing_node_is_uncordoned_and_stops_the_upgrade(upgrade, tmp_path):
    """A release whose binary does not match its checksum: the first server is drained, refuses the
    binary, is uncordoned, and no other node is touched."""
    tampered = tmp_path / "v1.34.5+k3s1"
    shutil.copytree(os.path.join(ARTIFACTS, NEW), tampered)
    (tampered / "sha256sum-amd64.txt").write_text("%s  k3s\n" % ("0" * 64))
    state = node_state()
    rc, out = run_playbook("upgrade.yml", "-e", "k3s_version=v1.34.5+k3s1", "-e", "k3s_artifact_dir=%s" % tampered,
                           "-e", "k3s_backup_dir=" + upgrade["backups"])
    assert rc != 0 and "failed at 'Verify the offline binary'" in out and "no further node is touched" in out, \
        out[-3000:]
    assert "Uncordon %s" % FIRST in out
    core = kubernetes.client.CoreV1Api(client_for())
    assert not core.read_node(FIRST).spec.unschedulable
    assert node_state() == state, "a node was restarted"
    assert all(NEW in host(n).check_output("/usr/local/bin/k3s --version") for n in ALL)

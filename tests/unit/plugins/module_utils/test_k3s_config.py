import pytest

from ansible_collections.homelab.platform.plugins.module_utils import k3s_config as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError


@pytest.mark.parametrize(
    "version,minor,pre",
    [("v1.34.3+k3s1", 34, ""), ("v1.30.0-rc1+k3s2", 30, "rc1"), (" v1.33.10+k3s1 ", 33, "")],
)
def test_parse_version_accepts_releases(version, minor, pre):
    info = core.parse_version(version)
    assert info["minor"] == minor
    assert info["prerelease"] == pre
    assert info["version"] == version.strip()


@pytest.mark.parametrize("version", ["1.34.3+k3s1", "v1.34.3", "v1.34+k3s1", "latest", "stable", "", None, 1.34])
def test_parse_version_rejects_with_example(version):
    with pytest.raises(core.K3sConfigError, match=r"not a K3s release version.*v1\.34\.3\+k3s1"):
        core.parse_version(version)


def test_release_assets_amd64_url_encodes_plus():
    assets = core.release_assets("v1.34.3+k3s1", "x86_64")
    assert assets["binary_url"] == "https://github.com/k3s-io/k3s/releases/download/v1.34.3%2Bk3s1/k3s"
    assert assets["checksum_url"].endswith("/v1.34.3%2Bk3s1/sha256sum-amd64.txt")
    assert assets["binary_name"] == "k3s"


def test_release_assets_arm64_and_mirror():
    assets = core.release_assets("v1.34.3+k3s1", "aarch64", base_url="https://mirror.example/k3s/")
    assert assets["binary_url"] == "https://mirror.example/k3s/v1.34.3%2Bk3s1/k3s-arm64"
    assert assets["checksum_name"] == "sha256sum-arm64.txt"


def test_release_assets_unknown_arch():
    with pytest.raises(core.K3sConfigError, match="architecture 'riscv64' has no K3s release binary"):
        core.release_assets("v1.34.3+k3s1", "riscv64")


def test_installed_version():
    out = "k3s version v1.34.3+k3s1 (48ffa7b6)\ngo version go1.24.11\n"
    assert core.installed_version(out) == "v1.34.3+k3s1"
    assert core.installed_version("") is None
    assert core.installed_version("bash: k3s: command not found") is None


def test_checksum_from_file():
    digest = "a" * 64
    text = "%s  k3s-airgap-images-amd64.tar\n%s  k3s\n" % ("b" * 64, digest)
    assert core.checksum_from_file(text, "k3s") == digest
    with pytest.raises(core.K3sConfigError, match="no sha256 for 'k3s-arm64'"):
        core.checksum_from_file(text, "k3s-arm64")


def test_labels_to_list_sorted_and_typed():
    assert core.labels_to_list({"node-class": "gpu", "a": "b"}) == ["a=b", "node-class=gpu"]
    assert core.labels_to_list(None) == []
    with pytest.raises(core.K3sConfigError, match="must be a dict"):
        core.labels_to_list(["a=b"])


def test_build_config_merges_and_drops_empty():
    cfg = core.build_config(
        {"token-file": "/etc/rancher/k3s/token", "node-ip": "100.84.89.67", "flannel-iface": "", "tls-san": ["100.84.89.67"]},
        {"disable": ["servicelb"], "tls-san": ["k3s.example", "100.84.89.67"]},
        extra_lists=["tls-san"],
    )
    assert cfg == {
        "disable": ["servicelb"],
        "node-ip": "100.84.89.67",
        "tls-san": ["100.84.89.67", "k3s.example"],
        "token-file": "/etc/rancher/k3s/token",
    }
    assert list(cfg) == sorted(cfg)


def test_build_config_writes_the_numbers_k3s_reads_as_numbers_whatever_the_template_gave():
    """ansible-core 2.17 renders "{{ 5 }}" as '5', 2.19 as 5: config.yaml must not change with the Ansible version."""
    for retention, port in (("5", "6444"), (5, 6444)):
        cfg = core.build_config({"etcd-snapshot-retention": retention, "https-listen-port": port, "node-name": "007"})
        assert cfg == {"etcd-snapshot-retention": 5, "https-listen-port": 6444, "node-name": "007"}


@pytest.mark.parametrize("key", ["token", "server", "cluster-init", "token-file", "cluster_init", "node-ip", "https-listen-port"])
def test_build_config_refuses_managed_keys(key):
    with pytest.raises(core.K3sConfigError, match="managed by the roles.*%s \\(set " % key):
        core.build_config({}, {key: "x"})


def test_build_config_names_every_refused_key():
    with pytest.raises(core.K3sConfigError) as err:
        core.build_config({}, {"token": "s3cret", "server": "https://x:6443", "disable": ["traefik"]})
    assert "server (set k3s_api_host" in str(err.value)
    assert "token (set k3s_token" in str(err.value)
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize("key", ["--disable", "Disable", "write kubeconfig"])
def test_build_config_refuses_flag_spelling(key):
    with pytest.raises(core.K3sConfigError, match="K3s flag names"):
        core.build_config({}, {key: True})


def test_build_config_refuses_non_dict():
    with pytest.raises(core.K3sConfigError, match="must be a dict"):
        core.build_config({}, ["disable=traefik"])


def test_snapshots_expired_keeps_the_newest_by_k3s_time():
    paths = ["/b/homelab-backup-lab-server-1-1700000300", "/b/homelab-backup-lab-server-1-1700000100.zip",
             "/b/homelab-backup-lab-server-1-1700000200", "/b/homelab-backup-lab-server-1-99"]
    assert core.snapshots_expired(paths, 2) == ["/b/homelab-backup-lab-server-1-1700000100.zip",
                                                "/b/homelab-backup-lab-server-1-99"]
    assert core.snapshots_expired(paths, 10) == []


@pytest.mark.parametrize("keep", [0, -1, "5", True])
def test_snapshot_retention_must_be_positive(keep):
    with pytest.raises(core.K3sConfigError, match="at least 1"):
        core.snapshots_expired(["/b/x-n-1"], keep)


def test_a_file_not_named_like_a_snapshot_is_never_expired():
    with pytest.raises(core.K3sConfigError, match="not named like a K3s snapshot"):
        core.snapshots_expired(["/b/homelab-backup-lab-server-1-1700000300", "/b/notes.txt"], 1)


def test_upgrade_plan_touches_only_nodes_below_the_target():
    plan = core.upgrade_plan({"s1": "v1.34.3+k3s1", "s2": "v1.34.4+k3s1", "a1": ""}, "v1.34.4+k3s1")
    assert plan["nodes"] == {"s1": "upgrade", "s2": "none", "a1": "install"}
    assert plan["upgrade"] == ["a1", "s1"]
    assert plan["refusals"] == []
    assert plan["oldest"] == "v1.34.3+k3s1"
    assert plan["snapshot_name"] == "pre-upgrade-v1.34.3-k3s1-to-v1.34.4-k3s1"


def test_upgrade_plan_same_version_changes_nothing():
    plan = core.upgrade_plan({"s1": "v1.34.4+k3s1", "s2": "v1.34.4+k3s1"}, "v1.34.4+k3s1")
    assert plan["upgrade"] == [] and plan["refusals"] == []


@pytest.mark.parametrize("installed,target", [
    ("v1.34.4+k3s1", "v1.34.3+k3s1"),   # older patch
    ("v1.34.3+k3s2", "v1.34.3+k3s1"),   # older K3s build
    ("v1.34.3+k3s1", "v1.34.3-rc1+k3s1"),  # a release candidate is older than its release
    ("v1.35.0+k3s1", "v1.34.9+k3s1"),   # older minor
])
def test_upgrade_plan_refuses_a_downgrade(installed, target):
    plan = core.upgrade_plan({"s1": "v1.34.4+k3s1", "s2": installed}, target)
    assert any(r.startswith("s2 runs %s" % installed) and "downgrade" in r for r in plan["refusals"])


def test_upgrade_plan_refuses_a_skipped_minor_unless_allowed():
    plan = core.upgrade_plan({"s1": "v1.32.9+k3s1", "a1": "v1.33.5+k3s1"}, "v1.34.4+k3s1")
    assert len(plan["refusals"]) == 1
    assert "s1 runs v1.32.9+k3s1" in plan["refusals"][0] and "k3s_upgrade_allow_skip" in plan["refusals"][0]
    assert core.upgrade_plan({"s1": "v1.32.9+k3s1"}, "v1.34.4+k3s1", allow_skip=True)["refusals"] == []
    assert core.upgrade_plan({"s1": "v1.33.0-rc1+k3s1"}, "v1.34.0+k3s1")["refusals"] == []


def test_upgrade_plan_rejects_a_target_that_is_not_a_release():
    with pytest.raises(core.K3sConfigError, match="not a K3s release version"):
        core.upgrade_plan({"s1": "v1.34.3+k3s1"}, "1.34.4")


def node(labels=None, annotations=None, taints=None):
    return {"metadata": {"name": "n1", "labels": labels or {}, "annotations": annotations or {}},
            "spec": {"taints": taints} if taints is not None else {}}


def test_node_metadata_patch_adds_labels_taints_and_remembers_them():
    patch = core.node_metadata_patch(node({"kubernetes.io/hostname": "n1"}), {"homelab.platform/node-class": "gpu"},
                                     ["nvidia.com/gpu=present:NoSchedule"])
    assert patch == {
        "metadata": {"labels": {"homelab.platform/node-class": "gpu"},
                     "annotations": {core.MANAGED_LABELS_ANNOTATION: "homelab.platform/node-class",
                                     core.MANAGED_TAINTS_ANNOTATION: "nvidia.com/gpu:NoSchedule"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    }


def test_node_metadata_patch_is_none_when_the_node_matches():
    current = node({"a": "1", "k3s.io/hostname": "n1"},
                   {core.MANAGED_LABELS_ANNOTATION: "a", core.MANAGED_TAINTS_ANNOTATION: "t:NoSchedule"},
                   [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                    {"key": "t", "effect": "NoSchedule"}])
    assert core.node_metadata_patch(current, {"a": 1}, ["t:NoSchedule"]) is None


def test_node_metadata_patch_removes_only_what_the_inventory_set_before():
    current = node({"a": "1", "b": "2", "other": "x"},
                   {core.MANAGED_LABELS_ANNOTATION: "a,b", core.MANAGED_TAINTS_ANNOTATION: "old:NoSchedule"},
                   [{"key": "old", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    patch = core.node_metadata_patch(current, {"a": "1"}, [])
    assert patch["metadata"]["labels"] == {"b": None}  # "other" was never the inventory's
    assert patch["metadata"]["annotations"] == {core.MANAGED_LABELS_ANNOTATION: "a",
                                                core.MANAGED_TAINTS_ANNOTATION: None}
    assert patch["spec"]["taints"] == [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]


def test_node_metadata_patch_changes_a_taint_value():
    current = node({}, {core.MANAGED_TAINTS_ANNOTATION: "t:NoSchedule"}, [{"key": "t", "value": "a", "effect": "NoSchedule"}])
    assert core.node_metadata_patch(current, {}, ["t=b:NoSchedule"])["spec"]["taints"] == [
        {"key": "t", "value": "b", "effect": "NoSchedule"}]


@pytest.mark.parametrize("taint", ["novalue", "k=v:Sometimes", ":NoSchedule", 3])
def test_parse_taint_refuses_what_k3s_would_refuse(taint):
    with pytest.raises(core.K3sConfigError):
        core.parse_taint(taint)


class _NodeApi:
    """k8s_apply's request(method, path, ...) over one Node: absent for the first `late` reads (a node that has not
    registered yet), refusing the first `down` reads (an API server still starting); merge patches applied."""

    def __init__(self, current, late=0, down=0):
        self.current, self.late, self.down, self.sent = current, late, down, []

    def request(self, method, path, body=None, content_type="application/json"):
        assert path == "/api/v1/nodes/n1"
        if method == "GET":
            if self.down:
                self.down -= 1
                raise K8sError("cannot reach the Kubernetes API at https://100.64.0.1:6443: refused", {"host": "x"})
            if self.late:
                self.late -= 1
                return None
            return self.current
        self.sent.append((method, body, content_type))
        self.current = core.merged(self.current, body)
        return self.current


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_reconcile_node_patches_once_and_then_finds_nothing_to_do():
    api = _NodeApi(node({"kubernetes.io/hostname": "n1", "other": "x"}))
    result = core.reconcile_node(api, "n1", {"homelab.platform/node-class": "gpu"}, ["nvidia.com/gpu=present:NoSchedule"])
    assert result["changed"] and api.sent == [("PATCH", result["patch"], "application/merge-patch+json")]
    assert result["diff"]["before"]["labels"] == {"kubernetes.io/hostname": "n1", "other": "x"}
    assert result["diff"]["after"] == {"labels": {"kubernetes.io/hostname": "n1", "other": "x",
                                                  "homelab.platform/node-class": "gpu"},
                                       "taints": ["nvidia.com/gpu=present:NoSchedule"]}
    again = core.reconcile_node(api, "n1", {"homelab.platform/node-class": "gpu"}, ["nvidia.com/gpu=present:NoSchedule"])
    assert not again["changed"] and again["patch"] is None and len(api.sent) == 1


def test_reconcile_node_in_check_mode_sends_nothing_and_shows_the_outcome():
    api = _NodeApi(node({"a": "1", "b": "2"}, {core.MANAGED_LABELS_ANNOTATION: "a,b"}))
    result = core.reconcile_node(api, "n1", {"a": "1"}, [], check_mode=True)
    assert result["changed"] and api.sent == []
    assert result["diff"]["after"]["labels"] == {"a": "1"}


def test_reconcile_node_waits_for_a_node_that_registers_late_or_an_api_still_starting():
    clock = _Clock()
    api = _NodeApi(node({}), late=2, down=1)
    result = core.reconcile_node(api, "n1", {"a": "1"}, [], timeout=30, delay=5, clock=clock, sleep=clock.sleep)
    assert result["changed"] and clock.now == 15


def test_reconcile_node_names_a_node_that_never_registers_and_an_api_that_never_answers():
    clock = _Clock()
    with pytest.raises(core.K3sConfigError, match="the Node n1 is not registered after 10s: is K3s running"):
        core.reconcile_node(_NodeApi(node({}), late=99), "n1", {}, [], timeout=10, clock=clock, sleep=clock.sleep)
    clock = _Clock()
    with pytest.raises(K8sError, match="cannot reach the Kubernetes API"):
        core.reconcile_node(_NodeApi(node({}), down=99), "n1", {}, [], timeout=10, clock=clock, sleep=clock.sleep)


def test_critical_changes_compare_what_k3s_gives_itself_defaults_included():
    """Issue 36: cluster-cidr 10.52.0.0/16 on a running cluster rewrote config.yaml and restarted K3s."""
    current = {"node-ip": "100.64.0.1", "flannel-iface": "tailscale0"}
    assert core.critical_changes(current, dict(current, **{"cluster-cidr": "10.42.0.0/16", "tls-san": ["x"]})) == []
    assert core.critical_changes(current, dict(current, **{"cluster-cidr": "10.52.0.0/16"})) == [
        "cluster-cidr: 10.42.0.0/16 -> 10.52.0.0/16"]
    # a new service range moves the derived cluster DNS too; an explicit one equal to the derived one is no change
    assert core.critical_changes(current, {"service-cidr": "10.96.0.0/16"}) == [
        "service-cidr: 10.43.0.0/16 -> 10.96.0.0/16", "cluster-dns: 10.43.0.10 -> 10.96.0.10"]
    assert core.critical_changes(current, {"cluster-dns": "10.43.0.10", "cluster-domain": "cluster.local"}) == []
    assert core.critical_changes({"cluster-domain": "lab.local"}, {}) == ["cluster-domain: lab.local -> cluster.local"]
    # dual-stack written as a string or a list is the same
    assert core.critical_changes({"cluster-cidr": "10.42.0.0/16,fd00:42::/56"},
                                 {"cluster-cidr": ["10.42.0.0/16", "fd00:42::/56"]}) == []


def test_critical_changes_name_a_broken_value():
    with pytest.raises(core.K3sConfigError, match="cluster-cidr"):
        core.critical_changes({"cluster-cidr": "10.42.0.0/99"}, {})

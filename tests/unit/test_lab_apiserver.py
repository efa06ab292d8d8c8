"""The lab API stand-in's pure parts: selectors, patches, routing and discovery.

Storage semantics (etcd transactions, one state across servers) are exercised against the lab's
real etcd in Molecule (molecule/shared/tests/test_lab_api.py).
"""

import gzip
import importlib.resources
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "standins", "k3s"))
import lab_apiserver as lab  # noqa: E402  pylint: disable=wrong-import-position,import-error


@pytest.fixture(scope="module")
def api():
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()

    class NoEtcd:
        """Discovery reads stored CRDs; here there are none and no etcd at all."""

        def list(self, prefix):
            raise lab.EtcdUnavailable("no etcd in unit tests")

        keys = list

    return lab.LabAPI(NoEtcd(), json.loads(gzip.decompress(data)), "v1.34.3+k3s1")


@pytest.mark.parametrize("selector,labels,expected", [
    ("app=vllm", {"app": "vllm"}, True),
    ("app==vllm", {"app": "ollama"}, False),
    ("app!=vllm", {}, True),
    ("app=vllm,gpu-mode in (ml, r1)", {"app": "vllm", "gpu-mode": "r1"}, True),
    ("app=vllm,gpu-mode in (ml, r1)", {"app": "vllm", "gpu-mode": "gaming"}, False),
    ("gpu-mode notin (ml)", {}, True),
    ("homelab.platform/node-class", {"homelab.platform/node-class": "gpu"}, True),
    ("!homelab.platform/node-class", {"homelab.platform/node-class": "gpu"}, False),
    ("", {"anything": "x"}, True),
])
def test_label_selectors(selector, labels, expected):
    assert lab.matches(lab.parse_selector(selector), labels) is expected


def test_a_malformed_selector_is_a_bad_request():
    with pytest.raises(lab.APIError) as err:
        lab.parse_selector("app in vllm")
    assert err.value.code == 400


def test_field_selectors_read_metadata_spec_and_status():
    pod = {"metadata": {"name": "p", "namespace": "ml"}, "spec": {"nodeName": "lab-gpu-1"},
           "status": {"phase": "Running"}}
    values = lab.field_values(pod)
    assert lab.matches(lab.parse_selector("spec.nodeName=lab-gpu-1,status.phase!=Failed"), values)
    assert not lab.matches(lab.parse_selector("metadata.namespace=data"), values)


def test_merge_patch_is_rfc7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3]}
    assert lab.merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3]}


def test_strategic_merge_merges_lists_by_their_merge_key():
    target = {"spec": {"containers": [{"name": "main", "image": "a", "env": [{"name": "A", "value": "1"}]}],
                       "tolerations": [{"key": "x"}]}}
    patch = {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]},
                                     {"name": "side", "image": "s"}],
                      "tolerations": [{"key": "y"}]}}
    merged = lab.strategic_merge(target, patch)
    main, side = merged["spec"]["containers"]
    assert main["image"] == "a" and [e["name"] for e in main["env"]] == ["A", "B"]
    assert side == {"name": "side", "image": "s"}
    assert merged["spec"]["tolerations"] == [{"key": "y"}], "a list without a merge key is replaced"


def test_strategic_merge_directives():
    target = {"spec": {"containers": [{"name": "a"}, {"name": "b"}], "finalizers": ["x", "y"]}}
    patch = {"spec": {"containers": [{"name": "a", "$patch": "delete"}], "$deleteFromPrimitiveList/finalizers": ["x"],
                      "$setElementOrder/containers": [{"name": "b"}]}}
    assert lab.strategic_merge(target, patch) == {"spec": {"containers": [{"name": "b"}], "finalizers": ["y"]}}


def test_conditions_merge_by_type_so_a_status_patch_keeps_the_others():
    target = {"conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}]}
    merged = lab.strategic_merge(target, {"conditions": [{"type": "Ready", "status": "Unknown"}]})
    assert merged["conditions"] == [{"type": "Ready", "status": "Unknown"}, {"type": "MemoryPressure", "status": "False"}]


def test_routes(api):
    _parts, (res, namespace, name, sub) = api.route("/apis/apps/v1/namespaces/ml/deployments/vllm-server/scale")
    assert (res.kind, namespace, name, sub) == ("Deployment", "ml", "vllm-server", "scale")
    _parts, (res, namespace, name, sub) = api.route("/api/v1/namespaces/ml")
    assert (res.kind, namespace, name, sub) == ("Namespace", None, "ml", None)
    _parts, (res, namespace, name, sub) = api.route("/api/v1/namespaces/ml/pods/p/eviction")
    assert (res.kind, name, sub) == ("Pod", "p", "eviction")
    _parts, (res, namespace, name, sub) = api.route("/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts")
    assert (res.kind, namespace, name) == ("HelmChart", "kube-system", None)
    assert res.key("kube-system", "x") == "/registry/helm.cattle.io/helmcharts/kube-system/x"
    _parts, (res, namespace, name, sub) = api.route("/api/v1/namespaces/ml/secrets/s")
    assert res.key(namespace, name) == "/registry/secrets/ml/s"  # where the kube-apiserver keeps it
    _parts, (res, namespace, name, sub) = api.route("/api/v1/nodes/n")
    assert res.key(namespace, name) == "/registry/minions/n"
    _parts, (res, namespace, name, sub) = api.route("/apis/apps/v1/namespaces/ml/deployments/d")
    assert res.key(namespace, name) == "/registry/deployments/ml/d"
    parts, target = api.route("/apis/apps/v1")
    assert target is None and parts == ["apis", "apps", "v1"]
    with pytest.raises(lab.APIError) as err:
        api.route("/api/v1/namespaces/ml/pods/p/nonsense")
    assert err.value.code == 404


def test_discovery_documents(api):
    assert api.discovery(["version"])["gitVersion"] == "v1.34.3+k3s1"
    assert api.discovery(["version"])["minor"] == "34"
    core = api.discovery(["api", "v1"])
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/eviction", "pods/status", "nodes", "nodes/status", "namespaces"} <= names
    groups = {g["name"] for g in api.discovery(["apis"])["groups"]}
    assert {"apps", "batch", "helm.cattle.io", "k3s.cattle.io", "networking.k8s.io"} <= groups


def test_defaults_and_generation(api):
    deployments = api.builtin[("apps", "v1", "deployments")]
    created = {"metadata": {"name": "d"}, "spec": {"template": {}}, "status": {"readyReplicas": 3}}
    api.defaults(deployments, created, None)
    assert created["spec"]["replicas"] == 1 and created["metadata"]["generation"] == 1
    assert created["status"] == {}, "status belongs to the status subresource"
    old = {"metadata": {"name": "d", "generation": 1}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
    same = {"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}}
    api.defaults(deployments, same, old)
    assert same["metadata"]["generation"] == 1 and same["status"] == {"readyReplicas": 1}
    scaled = {"metadata": {"name": "d"}, "spec": {"replicas": 0}}
    api.defaults(deployments, scaled, old)
    assert scaled["metadata"]["generation"] == 2


def test_kubectl_tables_for_nodes(api):
    nodes = api.builtin[("", "v1", "nodes")]
    node = {"metadata": {"name": "lab-server-1", "creationTimestamp": "2020-01-01T00:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "true",
                                    "node-role.kubernetes.io/etcd": "true"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                       "nodeInfo": {"kubeletVersion": "v1.34.3+k3s1"}}}
    table = lab.table(nodes, [node], {"resourceVersion": "7"})
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Status", "Roles", "Age", "Version"]
    cells = table["rows"][0]["cells"]
    assert cells[:5] == ["lab-server-1", "NotReady,SchedulingDisabled", "control-plane,etcd", cells[3], "v1.34.3+k3s1"]
    assert cells[3].endswith("d")


@pytest.mark.parametrize("seconds,shown", [(5, "5s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
                                           (30 * 3600, "30h"), (3 * 86400, "3d"), (20 * 86400, "20d")])
def test_ages_read_as_kubectl_shows_them(seconds, shown):
    import datetime  # pylint: disable=import-outside-toplevel

    at = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.timezone.utc)
    created = at - datetime.timedelta(seconds=seconds)
    assert lab.age(created.strftime("%Y-%m-%dT%H:%M:%SZ"), at) == shown


def test_the_crds_last_read_stay_served_while_etcd_does_not_answer():
    crd = {"spec": {"group": "metallb.io", "names": {"plural": "ipaddresspools", "kind": "IPAddressPool"},
                    "scope": "Namespaced", "versions": [{"name": "v1beta1", "served": True}]}}

    class FlakyEtcd:
        up = True

        def list(self, prefix):
            if not self.up:
                raise lab.EtcdUnavailable("etcd: no answer")
            return [(crd, 1)], 1

        def keys(self, prefix):
            return [(lab.CRD_PREFIX + "x", 1)] if self.list(prefix) else []

    etcd = FlakyEtcd()
    api = lab.LabAPI(etcd, [], "v1.34.3+k3s1")
    key = ("metallb.io", "v1beta1", "ipaddresspools")
    assert key in api.resources()
    etcd.up = False
    assert key in api.resources()  # requests for it then fail on etcd (503), as K3s's apiserver answers


def test_names_and_service_ports_the_apiserver_refuses_are_refused_with_its_422(api):
    """Issue 36: the lab accepted what a real API server refuses (a port of 99999, a Service named 9x)."""
    services = api.resources()[("", "v1", "services")]

    def service(name, port, target="http"):
        return {"metadata": {"name": name}, "spec": {"ports": [{"name": "http", "port": port, "targetPort": target}]}}

    assert lab.invalid(services, service("litellm", 4000)) is None
    err = lab.invalid(services, service("litellm", 99999))
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message == ('Service "litellm" is invalid: spec.ports[0].port: Invalid value: 99999: '
                           "must be between 1 and 65535, inclusive")
    assert err.details["causes"][0]["field"] == "spec.ports[0].port"
    assert "a DNS-1035 label" in lab.invalid(services, service("9litellm", 4000)).message
    assert "spec.ports[0].targetPort" in lab.invalid(services, service("x", 80, "Not_A_Name")).message
    namespaces = api.resources()[("", "v1", "namespaces")]
    assert "RFC 1123 label" in lab.invalid(namespaces, {"metadata": {"name": "ML"}}).message
    deployments = api.resources()[("apps", "v1", "deployments")]
    assert lab.invalid(deployments, {"metadata": {"name": "vllm.server"}}) is None
    assert "RFC 1123 subdomain" in lab.invalid(deployments, {"metadata": {"name": "vllm_server"}}).message
    roles = api.resources()[("rbac.authorization.k8s.io", "v1", "clusterroles")]
    assert lab.invalid(roles, {"metadata": {"name": "system:controller:x"}}) is None
    assert lab.invalid(roles, {"metadata": {"name": "a/b"}}).code == 422

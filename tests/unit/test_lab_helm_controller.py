"""The lab's helm-controller stand-in installs what the REAL helm renders from the REAL chart archive.

The lab API runs on an in-memory store here (MemoryEtcd, the few calls LabAPI makes of etcd); helm is the
Makefile's (HOMELAB_HELM) and the charts its CHARTS_DIR (HOMELAB_CHARTS_DIR). Molecule runs the same code
against the lab's real etcd with the roles' HelmCharts.
"""

import copy
import gzip
import importlib.resources
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "standins", "k3s"))
import lab_apiserver as lab  # noqa: E402  pylint: disable=wrong-import-position,import-error
import lab_controller as ctl  # noqa: E402  pylint: disable=wrong-import-position,import-error


class MemoryEtcd:
    """etcd's key-value semantics as LabAPI uses them: revisions, create-if-absent, compare-and-swap."""

    def __init__(self):
        self.data, self.rev = {}, 1

    def get(self, key):
        value = self.data.get(key)
        return (copy.deepcopy(value[0]), value[1]) if value else (None, 0)

    def list(self, prefix):
        return [(copy.deepcopy(v), r) for k, (v, r) in sorted(self.data.items()) if k.startswith(prefix)], self.rev

    def keys(self, prefix):
        return [(k, r) for k, (_v, r) in sorted(self.data.items()) if k.startswith(prefix)]

    def revision(self):
        return self.rev

    def stale(self, _key):
        return False

    def _put(self, key, obj):
        self.rev += 1
        self.data[key] = (copy.deepcopy(obj), self.rev)
        return self.rev

    def create(self, key, obj):
        return None if key in self.data else self._put(key, obj)

    def update(self, key, obj, revision):
        return self._put(key, obj) if key in self.data and self.data[key][1] == revision else None

    def delete(self, key, revision):
        if key not in self.data or self.data[key][1] != revision:
            return None
        del self.data[key]
        self.rev += 1
        return self.rev


@pytest.fixture(name="cluster")
def fixture_cluster(monkeypatch):
    helm, charts = os.environ.get("HOMELAB_HELM"), os.environ.get("HOMELAB_CHARTS_DIR")
    assert helm and os.path.exists(helm), "HOMELAB_HELM: run through make (make tools installs helm)"
    assert charts and os.path.isdir(charts), "HOMELAB_CHARTS_DIR: the pinned charts (CHARTS_DIR)"
    monkeypatch.setattr(ctl, "LAB_HELM", helm)
    monkeypatch.setattr(ctl, "LAB_CHARTS", charts)
    discovery = json.loads(gzip.decompress(
        importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()))
    api = lab.LabAPI(MemoryEtcd(), discovery, "v1.34.3+k3s1")
    logged = []
    controller = ctl.Controller(api, "test", lambda level, text: logged.append((level, text)))
    controller.ensure_namespaces()
    for name in ("infra", "monitoring"):
        api.create(api.builtin[("", "v1", "namespaces")], None, {"metadata": {"name": name}})
    return api, controller, logged


def helmchart(api, name, chart, version, target, values=""):
    body = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"chart": chart, "version": version, "targetNamespace": target, "valuesContent": values}}
    res = api.resources()[("helm.cattle.io", "v1", "helmcharts")]
    return api.create(res, "kube-system", body)[0]


def objects(api, group, version, plural, namespace=None):
    return api.list(api.resources()[(group, version, plural)], namespace, {})["items"]


def test_a_chart_is_installed_with_its_real_crds_workloads_and_a_release_record(cluster):
    api, controller, logged = cluster
    chart = helmchart(api, "metallb", "metallb", "0.15.2", "infra")
    controller.install_release(chart, "SHA256=ONE")
    crd = api.read(api.resources()[("apiextensions.k8s.io", "v1", "customresourcedefinitions")], None,
                   "ipaddresspools.metallb.io")[0]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "addresses" in schema["properties"]["spec"]["properties"], "the chart's real schema, not a summary"
    assert ("metallb.io", "v1beta1", "ipaddresspools") in api.resources()
    deployments = {d["metadata"]["name"]: d for d in objects(api, "apps", "v1", "deployments", "infra")}
    assert "metallb-controller" in deployments
    assert deployments["metallb-controller"]["metadata"]["annotations"][ctl.RELEASE_NAME] == "metallb"
    assert [d["metadata"]["name"] for d in objects(api, "apps", "v1", "daemonsets", "infra")] == ["metallb-speaker"]
    record = api.read(api.builtin[("", "v1", "secrets")], "infra", "sh.helm.release.v1.metallb.v1")[0]
    assert record["type"] == "helm.sh/release.v1" and record["metadata"]["labels"]["status"] == "deployed"
    assert ("info", "Installed chart metallb-0.15.2.tgz (release infra/metallb, %d objects)"
            % len(json.loads(ctl.base64_text(record["data"][ctl.RELEASE_RECORD])))) in logged


def test_an_upgrade_removes_what_the_new_render_drops_and_uninstall_removes_the_rest(cluster):
    api, controller, _logged = cluster
    chart = helmchart(api, "metallb", "metallb", "0.15.2", "infra")
    controller.install_release(chart, "SHA256=ONE")
    assert objects(api, "apps", "v1", "daemonsets", "infra")
    controller.install_release(chart, "SHA256=ONE")  # the same spec: nothing to do
    chart["spec"]["valuesContent"] = "speaker:\n  enabled: false\n"
    controller.install_release(chart, "SHA256=TWO")
    assert objects(api, "apps", "v1", "daemonsets", "infra") == [], "the speaker went with the upgrade"
    assert objects(api, "apps", "v1", "deployments", "infra")
    controller.uninstall_releases([])  # the HelmChart is gone
    assert objects(api, "apps", "v1", "deployments", "infra") == []
    assert [s for s in objects(api, "", "v1", "secrets", "infra") if s.get("type") == "helm.sh/release.v1"] == []


def test_a_chart_bringing_its_own_apis_is_rendered_with_them_served(cluster):
    """kube-prometheus-stack renders its ServiceMonitors only when monitoring.coreos.com/v1 is served: helm
    install serves the chart's CRDs first, so a first install has them."""
    api, controller, _logged = cluster
    chart = helmchart(api, "kube-prometheus-stack", "kube-prometheus-stack", "79.5.0", "monitoring")
    controller.install_release(chart, "SHA256=ONE")
    monitors = objects(api, "monitoring.coreos.com", "v1", "servicemonitors", "monitoring")
    assert monitors and objects(api, "monitoring.coreos.com", "v1", "prometheusrules", "monitoring")
    crds = objects(api, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    scaled = [c for c in crds for v in c["spec"]["versions"] if "scale" in (v.get("subresources") or {})]
    assert scaled and all(v["subresources"]["scale"]["specReplicasPath"] for c in scaled
                          for v in c["spec"]["versions"] if "scale" in (v.get("subresources") or {}))


def test_a_chart_the_directory_lacks_fails_the_helmchart_and_installs_nothing(cluster):
    api, controller, logged = cluster
    chart = helmchart(api, "metallb", "metallb", "9.9.9", "infra")
    controller.install_release(chart, "SHA256=ONE")
    chart = api.read(api.resources()[("helm.cattle.io", "v1", "helmcharts")], "kube-system", "metallb")[0]
    assert chart["status"]["conditions"][0]["type"] == "Failed"
    assert "metallb-9.9.9.tgz is not in the lab's chart directory" in chart["status"]["conditions"][0]["message"]
    assert objects(api, "apps", "v1", "deployments", "infra") == []
    assert any(level == "warning" for level, _text in logged)


@pytest.mark.parametrize("change,message", [
    (lambda crd: crd["spec"]["versions"][0]["subresources"].update(scale={}),
     "spec.versions[0].subresources.scale.specReplicasPath: Required value"),
    (lambda crd: crd["spec"]["versions"][0].pop("schema"),
     "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"),
    (lambda crd: crd["metadata"].update(name="gadgets.example.com"), 'must be spec.names.plural+"."+spec.group'),
    (lambda crd: crd["spec"]["versions"][0].update(storage=False),
     "must have exactly one version marked as storage version"),
])
def test_the_lab_api_refuses_an_invalid_crd_as_the_apiextensions_apiserver(cluster, change, message):
    api, _controller, _logged = cluster
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    res = api.builtin[("apiextensions.k8s.io", "v1", "customresourcedefinitions")]
    api.create(res, None, copy.deepcopy(crd), dry_run=True)  # the valid one is accepted
    change(crd)
    with pytest.raises(lab.APIError) as err:
        api.create(res, None, crd)
    assert err.value.code == 422 and message in str(err.value), str(err.value)

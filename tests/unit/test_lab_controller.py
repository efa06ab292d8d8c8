"""The lab controller stand-in's K3s parts that need no API: the helm-controller's install Job, the CRDs a
chart registers, the packaged manifests `disable` leaves out.

The controllers at work (a HelmChart's Job completing, its CRDs served) are exercised on the lab's API in
Molecule (molecule/shared/tests/test_lab_api.py).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "standins", "k3s"))
import lab_apiserver  # noqa: E402  pylint: disable=wrong-import-position,import-error
import lab_controller as ctl  # noqa: E402  pylint: disable=wrong-import-position,import-error


def helmchart(name="metallb", namespace="infra", **chart_spec):
    body = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name},
            "spec": dict({"chart": "metallb", "repo": "https://metallb.github.io/metallb", "version": "0.15.2",
                          "targetNamespace": namespace}, **chart_spec)}
    return body


@pytest.mark.parametrize("ref,name", [
    ("metallb", "metallb"),
    ("https://%{KUBERNETES_API}%/static/charts/traefik-crd-37.1.1+up37.1.1.tgz", "traefik-crd"),
    ("https://example.org/charts/kube-prometheus-stack-79.5.0.tgz", "kube-prometheus-stack"),
])
def test_the_chart_a_helmchart_names(ref, name):
    assert ctl.chart_name(helmchart(chart=ref)) == name


def test_the_install_job_is_the_helm_controllers():
    job = ctl.install_job(helmchart())
    assert job["metadata"]["name"] == "helm-install-metallb" and job["metadata"]["namespace"] == "infra"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("HelmChart", "metallb", "uid-metallb")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and pod["serviceAccountName"] == "helm-metallb"
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert env["VERSION"] == "0.15.2" and env["TARGET_NAMESPACE"] == "infra" and env["CHART"] == "metallb"


def test_a_changed_chart_spec_changes_the_jobs_config_hash():
    def digest(chart):
        return ctl.install_job(chart)["metadata"]["annotations"][ctl.CONFIG_HASH]

    assert digest(helmchart()) == digest(helmchart()), "the same spec, the same Job: a re-apply installs nothing"
    assert digest(helmchart()) != digest(helmchart(version="0.15.3"))
    assert digest(helmchart()) != digest(helmchart(valuesContent="speaker:\n  enabled: false\n"))


def test_only_k3s_packaged_charts_are_recorded_and_their_crds_are_served_as_recorded():
    """Every other chart is rendered by the real helm (test_lab_helm_controller.py); K3s's packaged traefik-crd
    is not in the chart directory, so its CRDs are recorded, and the lab API accepts them (crd_causes)."""
    recorded = ctl.chart_crds()
    assert set(recorded) == {"traefik-crd"}
    for name, chart in recorded.items():
        assert "@" in chart["source"] and chart["crds"], name
        for crd in chart["crds"]:
            body = ctl.crd_object(crd, name)
            assert lab_apiserver.crd_causes(body) == []
            served = lab_apiserver.crd_resources(body)
            assert {(g, v) for g, v, _plural in served} == \
                {(crd["group"], v["name"]) for v in crd["versions"] if v["served"]}, body["metadata"]["name"]
            for res in served.values():
                assert res.kind == crd["kind"] and res.namespaced is (crd["scope"] == "Namespaced")


def test_the_traefik_apis_our_roles_use_are_among_the_recorded_crds():
    served = set()
    for name, chart in ctl.chart_crds().items():
        for crd in chart["crds"]:
            served.update((g + "/" + v, res.kind) for (g, v, _p), res in
                          lab_apiserver.crd_resources(ctl.crd_object(crd, name)).items())
    # the IngressRoute triplet (roles' filter homelab.platform.ingress_triplet)
    for api in [("traefik.io/v1alpha1", "IngressRoute"), ("traefik.io/v1alpha1", "Middleware")]:
        assert api in served


def test_disable_leaves_out_a_packaged_manifest():
    def names(disabled):
        return {obj["metadata"]["name"] for _key, obj in ctl.packaged_objects(disabled)}

    everything = names([])
    assert {"coredns", "local-path", "local-path-provisioner", "metrics-server", "traefik-crd", "traefik"} <= everything
    assert names(["traefik", "servicelb"]) == everything - {"traefik-crd", "traefik"}
    assert "local-path" not in names(["local-storage"])


class Revisions:
    """etcd's revision as the controller reads it."""

    def __init__(self):
        self.value = 100

    def revision(self):
        return self.value


def test_a_round_runs_only_when_etcd_changed_since_a_round_that_wrote_nothing():
    api = type("API", (), {"builtin": dict.fromkeys(
        [("", "v1", p) for p in ("pods", "nodes", "persistentvolumeclaims", "secrets", "serviceaccounts")]
        + [("apps", "v1", p) for p in ("deployments", "replicasets", "statefulsets", "daemonsets")]
        + [("batch", "v1", "jobs"), ("coordination.k8s.io", "v1", "leases"), ("helm.cattle.io", "v1", "helmcharts"),
           ("apiextensions.k8s.io", "v1", "customresourcedefinitions")]), "etcd": Revisions()})()
    controller = ctl.Controller(api, "lab-server-1", lambda *_args: None)
    writes = ["a ReplicaSet"]  # what the next round writes

    def reconcile():
        api.etcd.value += len(writes)
        writes.clear()

    controller.reconcile = reconcile
    assert controller.reconcile_if_changed()  # first round: it writes
    assert controller.reconcile_if_changed()  # etcd moved (its own write): one more round, which writes nothing
    assert not controller.reconcile_if_changed()  # settled: nothing to look at
    api.etcd.value += 1  # somebody else wrote (a Deployment applied, a lease renewed)
    assert controller.reconcile_if_changed()
    assert not controller.reconcile_if_changed()
    controller.packaged = [("a packaged manifest", {})]  # a server start's packaged objects are never skipped
    assert controller.reconcile_if_changed()

"""Seed 001 verification checks on plain data."""

import urllib.error

from ansible_collections.homelab.platform.plugins.module_utils import cluster_verify as v


def node(name, ready=True):
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name, phase="Running", ready=True, waiting=None):
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": name}, "status": status}


def test_nodes():
    assert v.check_nodes([node("a"), node("b")], 2)["status"] == "PASS"
    failed = v.check_nodes([node("a"), node("b", ready=False)], 3)
    assert failed == {"check": "nodes", "status": "FAIL", "detail": "not Ready: b; 2 registered of 3"}
    assert v.check_nodes([], 1)["detail"] == "no node registered"
    assert v.check_nodes([node("a")], 2)["detail"] == "1 registered of 2"


def test_pods():
    assert v.check_pods("kube-system", [pod("coredns"), pod("helm-install", "Succeeded", ready=False)])["status"] == "PASS"
    failed = v.check_pods("infra", [pod("metallb-controller", "Pending", ready=False, waiting="ImagePullBackOff"),
                                    pod("cert-manager", ready=False, waiting="CrashLoopBackOff"), pod("ok")])
    assert failed["status"] == "FAIL"
    assert failed["detail"] == "infra: cert-manager (CrashLoopBackOff), metallb-controller (ImagePullBackOff)"
    assert v.check_pods("monitoring", [])["detail"] == "no pods in monitoring"


def test_default_storage_class():
    def sc(name, default):
        return {"metadata": {"name": name, "annotations": {v.DEFAULT_CLASS: "true" if default else "false"}}}

    assert v.check_default_storage_class([sc("nfs-client", True), sc("local-path", False)], "nfs-client")["status"] == "PASS"
    both = v.check_default_storage_class([sc("nfs-client", True), sc("local-path", True)], "nfs-client")
    assert both["detail"] == "default StorageClass: local-path, nfs-client (expected only nfs-client)"
    assert v.check_default_storage_class([sc("local-path", False)], "nfs-client")["status"] == "FAIL"


def test_datasources_one_default_and_no_name_twice():
    """kube-prometheus-stack's file (Prometheus the default) and loki-stack's own (Loki, also default): Grafana
    refuses the pair, so the check fails on it and passes on the one file."""
    prometheus = ("apiVersion: 1\ndatasources:\n- {name: Prometheus, type: prometheus, isDefault: true}\n"
                  "- {name: Alertmanager, type: alertmanager}\n- {name: Loki, type: loki, isDefault: false}\n")
    loki_stack = "apiVersion: 1\ndatasources:\n- {name: Loki, type: loki, isDefault: true}\n"
    assert v.check_datasources([prometheus]) == {"check": "datasources", "status": "PASS",
                                                 "detail": "3 Grafana data sources, Prometheus the default"}
    both = v.check_datasources([prometheus, loki_stack])
    assert both["status"] == "FAIL"
    assert both["detail"] == "Grafana refuses its data sources: 2 defaults (Loki, Prometheus); provisioned twice: Loki"
    assert v.check_datasources([])["status"] == "FAIL"
    assert v.check_datasources(["datasources: [{name: A}]"])["detail"].endswith("0 defaults (none)")


def test_certificates():
    good = {"metadata": {"namespace": "monitoring", "name": "grafana-certificate"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    pending = {"metadata": {"namespace": "apps", "name": "n8n-certificate"},
               "status": {"conditions": [{"type": "Ready", "status": "False", "message": "Issuing certificate"}]}}
    assert v.check_certificates([good])["status"] == "PASS"
    assert v.check_certificates([good, pending])["detail"] == "not Ready: apps/n8n-certificate (Issuing certificate)"
    assert v.check_certificates([])["status"] == "FAIL"


def test_https():
    assert v.check_https("https://grafana.x", lambda url: 302)["status"] == "PASS"
    assert v.check_https("https://grafana.x", lambda url: 502)["detail"] == "https://grafana.x answered 502"

    def refused(url):
        raise urllib.error.URLError("Connection refused")

    assert v.check_https("https://grafana.x", refused)["detail"] == "https://grafana.x: Connection refused"


def test_plain_http_is_refused():
    result = v.check_https("http://grafana.x", v.https_fetcher())
    assert result["status"] == "FAIL" and "only https://" in result["detail"]


class Reader:
    def nodes(self):
        return [node("k3s-master")]

    def pods(self, namespace):
        return [pod("p")]

    def storage_classes(self):
        return [{"metadata": {"name": "nfs-client", "annotations": {v.DEFAULT_CLASS: "true"}}}]

    def certificates(self):
        return []

    def datasource_documents(self, namespace):
        assert namespace == "monitoring"
        return ["datasources: [{name: Prometheus, isDefault: true}]"]


def test_verify_runs_every_check_in_order():
    results = v.verify(Reader(), ["kube-system", "infra"], expected_nodes=1, https_urls=["https://a"], fetch=lambda url: 200,
                       datasource_namespace="monitoring")
    assert [r["check"] for r in results] == ["nodes", "pods kube-system", "pods infra", "storageclass", "datasources",
                                             "certificates", "https https://a"]
    assert v.report(results)[0] == "PASS nodes: 1 nodes Ready"
    assert v.report(results)[4] == "PASS datasources: 1 Grafana data sources, Prometheus the default"
    assert v.report(results)[5].startswith("FAIL certificates: ")


def test_a_skipped_check_says_why_and_is_never_run():
    class Refusing(Reader):
        def certificates(self):
            raise AssertionError("a skipped check must not read the cluster")

    def fetch(url):
        raise AssertionError("a skipped URL must not be fetched")

    results = v.verify(Refusing(), ["kube-system", "monitoring"], expected_nodes=1, https_urls=["https://a"],
                       fetch=fetch, skip={"certificates": "no cert-manager here", "https": "no ingress",
                                          "pods monitoring": "no chart installed"})
    lines = v.report(results)
    assert lines[1].startswith("PASS pods kube-system")
    assert "SKIP pods monitoring: no chart installed" in lines
    assert "SKIP certificates: no cert-manager here" in lines and "SKIP https https://a: no ingress" in lines
    assert not any(line.startswith("PASS certificates") or line.startswith("PASS https") for line in lines)


def test_skip_names_one_check_not_its_neighbours():
    results = v.verify(Reader(), ["kube-system", "infra"], expected_nodes=1, skip={"pods infra": "why"})
    assert [r["status"] for r in results[:3]] == ["PASS", "PASS", "SKIP"]


def _svc(namespace, labels):
    return {"metadata": {"name": "svc", "namespace": namespace, "labels": labels}}


def _monitor(name, selector, namespace="monitoring", namespaces=None):
    spec = {"selector": selector}
    if namespaces is not None:
        spec["namespaceSelector"] = namespaces
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_every_service_monitor_must_select_a_service():
    services = [_svc("monitoring", {"app": "grafana"}), _svc("ml", {"app.kubernetes.io/name": "vllm", "tier": "gpu"})]
    monitors = [
        _monitor("grafana", {"matchLabels": {"app": "grafana"}}),
        _monitor("vllm", {"matchLabels": {"app.kubernetes.io/name": "vllm"}}, namespaces={"matchNames": ["ml"]}),
        _monitor("any", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]},
                 namespaces={"any": True}),
    ]
    assert v.check_service_monitors(monitors, services)["status"] == v.PASS
    wrong = monitors + [
        _monitor("own-namespace-only", {"matchLabels": {"app.kubernetes.io/name": "vllm"}}),  # vLLM is in ml
        _monitor("not-in", {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gpu"]},
                                                 {"key": "tier", "operator": "Exists"}]}, namespaces={"any": True}),
    ]
    result = v.check_service_monitors(wrong, services)
    assert result["status"] == v.FAIL
    assert result["detail"] == "select no Service, so nothing is scraped: monitoring/not-in, monitoring/own-namespace-only"


def test_service_monitors_without_the_api_or_any_monitor_fail():
    assert "is not served" in v.check_service_monitors(None, [])["detail"]
    assert v.check_service_monitors([], [])["status"] == v.FAIL

"""Seed 002 conventions: the builders produce compliant objects, and every rule names a violating manifest."""

import copy

import pytest
import yaml

from ansible_collections.homelab.platform.plugins.module_utils import manifests as m

HEADER = """# Demo Deployment for home-lab
# Namespace: {ns}
#
# Story: 7.1 - Demo story
# Epic: 7 - Development Proxy
#
# FRs:
# - FR-E07-1: something users need
#
# NFRs:
# - NFR-E07-1: something measurable
"""


def file_of(objects, ns="dev", header=None):
    return (HEADER.format(ns=ns) if header is None else header) + m.to_manifests(objects)


def rules(text):
    return sorted({v.rule for v in m.check_file(text, "demo.yaml")})


def proxy(**kwargs):
    return m.workload("dev-proxy", "server", "dev", "nginx:1", port=8080, volumes={"/data": "1Gi"}, storage_class="nfs-client",
                      **kwargs)


def triplet(namespace="dev"):
    return m.ingress_triplet("nginx", "dev-proxy", namespace, "home.example.com", "dev-proxy", 8080)


def test_builders_are_compliant():
    text = file_of(proxy() + triplet())
    assert m.check_file(text, "demo.yaml") == []
    assert text.count("\n---\n") == len(proxy() + triplet()) - 1  # multi-document, `---` separated


def test_labels_are_the_five_recommended_ones():
    assert m.labels("vllm", "server") == {
        "app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "vllm-server",
        "app.kubernetes.io/part-of": "home-lab", "app.kubernetes.io/component": "server",
        "app.kubernetes.io/managed-by": "ansible"}
    with pytest.raises(m.ManifestError):
        m.labels("", "server")


def test_helm_chart_is_pinned_and_keeps_the_values_file():
    chart = m.helm_chart({"repo": "https://charts.example", "chart": "metallb", "version": "0.15.2"},
                         "metallb", "infra", "crds:\n  enabled: true\n")
    assert chart["spec"] == {"repo": "https://charts.example", "chart": "metallb", "version": "0.15.2",
                             "targetNamespace": "infra", "valuesContent": "crds:\n  enabled: true\n"}
    assert chart["metadata"]["namespace"] == "infra" and chart["metadata"]["name"] == "metallb"
    with pytest.raises(m.ManifestError, match="lacks version"):
        m.helm_chart({"repo": "https://charts.example", "chart": "metallb"}, "metallb", "infra", "")
    with pytest.raises(m.ManifestError, match="YAML mapping"):
        m.helm_chart({"repo": "r", "chart": "c", "version": "1"}, "metallb", "infra", "- a list\n")


def test_values_render_as_a_literal_block():
    chart = m.helm_chart({"repo": "r", "chart": "c", "version": "1"}, "metallb", "infra", "a: 1\nb: 2\n")
    assert "valuesContent: |\n" in m.to_manifests(chart)


def test_triplet_shape():
    middleware, cert, https, http = triplet()
    assert cert["spec"]["dnsNames"] == ["nginx.home.example.com"]
    assert cert["spec"]["issuerRef"] == {"name": "letsencrypt-prod", "kind": "ClusterIssuer"}
    assert https["spec"]["entryPoints"] == ["websecure"] and https["spec"]["tls"]["secretName"] == cert["spec"]["secretName"]
    assert http["spec"]["entryPoints"] == ["web"]
    assert http["spec"]["routes"][0]["middlewares"] == [{"name": "https-redirect", "namespace": "dev"}]
    assert middleware["metadata"]["name"] == "https-redirect" and middleware["metadata"]["namespace"] == "dev"


def test_the_apps_of_a_namespace_share_one_redirect_middleware():
    """Gitea and the dev proxy both live in dev: the Middleware each renders is the same object, so applying
    one after the other changes nothing (no label tug of war on every run)."""
    gitea = m.ingress_triplet("git", "gitea", "dev", "home.example.com", "gitea-http", 3000)[0]
    proxy = m.ingress_triplet("proxy", "dev-proxy", "dev", "home.example.com", "dev-proxy", 8080)[0]
    assert gitea == proxy and gitea["metadata"]["labels"]["app.kubernetes.io/name"] == "traefik"
    assert rules(file_of([gitea])) == []


# ---- one violating manifest per rule -------------------------------------------------

def test_rule_header_missing():
    assert rules(file_of(proxy(), header="# just a comment\n")) == ["header"]


def test_rule_header_without_nfrs():
    header = HEADER.format(ns="dev").split("#\n# NFRs:", maxsplit=1)[0] + "\n"
    assert rules(file_of(proxy(), header=header)) == ["header"]


def test_rule_header_namespace_must_match_the_objects():
    found = m.check_file(file_of(proxy(), ns="apps"), "demo.yaml")
    assert [v.rule for v in found] == ["header"] and "objects are in dev" in found[0].message


CATALOGUE = """| ID | Epics | Requirement | Source |
|----|-------|-------------|--------|
| FR139 | 20 | R1 mode added as the third GPU mode | seed 000 |
| FR-E07-1 | 7 | something users need | ours |
| NFR-E07-1 | 7, 19 | something measurable | ours |
"""


def test_requirements_catalogue_rows():
    assert m.parse_requirements(CATALOGUE) == {"FR139": {20}, "FR-E07-1": {7}, "NFR-E07-1": {7, 19}}


def test_rule_header_ids_in_the_catalogue_pass():
    assert m.check_file(file_of(proxy()), "demo.yaml", catalogue=m.parse_requirements(CATALOGUE)) == []


def test_rule_header_id_missing_from_the_catalogue():
    header = HEADER.format(ns="dev").replace("# - FR-E07-1:", "# - FR-E07-9:")
    found = m.check_file(file_of(proxy(), header=header), "demo.yaml", catalogue=m.parse_requirements(CATALOGUE))
    assert [v.rule for v in found] == ["header"]
    assert "FR-E07-9 is not in the requirements catalogue (docs/requirements.md)" in found[0].message


def test_rule_header_id_of_another_epic():
    # FR139 is R1 mode (epic 20): a Development Proxy file (epic 7) cannot cite it
    header = HEADER.format(ns="dev").replace("# - FR-E07-1:", "# - FR139:")
    found = m.check_file(file_of(proxy(), header=header), "demo.yaml", catalogue=m.parse_requirements(CATALOGUE))
    assert [str(v.message) for v in found] == [
        "FR139 belongs to epic 20 (docs/requirements.md), but the header's Epic line names 7"]


def test_rule_header_ids_on_a_header_of_two_epics():
    header = HEADER.format(ns="dev").replace("# Epic: 7 - Development Proxy", "# Epic: 7 - Development Proxy; 20 - R1")
    header = header.replace("# - FR-E07-1:", "# - FR139:")
    assert m.check_file(file_of(proxy(), header=header), "demo.yaml", catalogue=m.parse_requirements(CATALOGUE)) == []


def test_the_collections_headers_trace_to_its_catalogue():
    root = __file__.rsplit("/tests/", 1)[0]
    catalogue = m.parse_requirements(open(root + "/docs/requirements.md", encoding="utf-8").read())
    assert {"FR139", "NFR65", "NFR-E03-5"} <= set(catalogue)
    assert catalogue["FR139"] == {20} and catalogue["NFR65"] == {14}


def test_rule_labels_missing_one():
    objects = proxy()
    del objects[1]["metadata"]["labels"]["app.kubernetes.io/part-of"]
    found = m.check_file(file_of(objects), "demo.yaml")
    assert [(v.object, v.rule) for v in found] == [("Deployment/dev-proxy-server", "labels")]
    assert "app.kubernetes.io/part-of" in str(found[0])


def test_rule_labels_instance_is_app_component():
    objects = proxy()
    objects[1]["metadata"]["labels"]["app.kubernetes.io/instance"] = "proxy"
    assert rules(file_of(objects)) == ["labels"]


def test_rule_naming():
    objects = proxy()
    objects[1]["metadata"]["name"] = "nginx"
    found = m.check_file(file_of(objects), "demo.yaml")
    assert [v.rule for v in found] == ["naming"] and "'nginx'" in found[0].message


def test_rule_no_ingress():
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": m.metadata("dev-proxy", "ingress", "dev"), "spec": {"rules": []}}
    assert rules(file_of([ingress])) == ["no-ingress"]


def test_rule_triplet_missing_certificate():
    objects = [o for o in triplet() if o["kind"] != "Certificate"]
    found = m.check_file(file_of(objects), "demo.yaml")
    assert [v.rule for v in found] == ["ingressroute-triplet"] and "no Certificate" in found[0].message


def test_rule_triplet_missing_redirect_route():
    objects = triplet()[:3]
    assert rules(file_of(objects)) == ["ingressroute-triplet"]


def test_rule_triplet_middleware_in_another_namespace():
    objects = triplet()
    objects[3]["spec"]["routes"][0]["middlewares"][0]["namespace"] = "kube-system"
    assert rules(file_of(objects)) == ["ingressroute-triplet"]


def test_rule_triplet_middleware_object_missing():
    objects = [o for o in triplet() if o["kind"] != "Middleware"]
    assert rules(file_of(objects)) == ["ingressroute-triplet"]


def test_rule_tls_https_route_without_secret():
    objects = triplet()
    del objects[2]["spec"]["tls"]
    assert "tls" in rules(file_of(objects))


def test_rule_tls_plain_http_route():
    objects = triplet()
    del objects[3]["spec"]["routes"][0]["middlewares"]
    assert "tls" in rules(file_of(objects))


def test_rule_tls_certificate_from_another_issuer():
    objects = triplet()
    objects[1]["spec"]["issuerRef"]["name"] = "selfsigned"
    assert rules(file_of(objects)) == ["tls"]


def test_rule_hostpath_outside_the_vllm_cache():
    objects = proxy()
    objects[1]["spec"]["template"]["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/srv/data"}})
    found = m.check_file(file_of(objects), "demo.yaml")
    assert [v.rule for v in found] == ["hostpath"] and "/srv/data" in found[0].message


def test_rule_hostpath_allows_only_vllm_the_model_cache():
    vllm = m.workload("vllm", "server", "ml", "vllm/vllm-openai:v0.10.2", port=8000)
    vllm[0]["spec"]["template"]["spec"]["volumes"] = [{"name": "cache", "hostPath": {"path": m.VLLM_MODEL_CACHE}}]
    assert m.check_objects(vllm) == []
    vllm[0]["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] = "/var/lib/other"
    assert [v.rule for v in m.check_objects(vllm)] == ["hostpath"]


def test_rule_gpu_deployment_needs_recreate():
    vllm = m.workload("vllm", "server", "ml", "vllm/vllm-openai:v0.10.2", port=8000,
                      resources={"limits": {"nvidia.com/gpu": 1}})
    assert m.check_objects(vllm) == []
    vllm[0]["spec"]["strategy"] = {"type": "RollingUpdate"}
    assert [v.rule for v in m.check_objects(vllm)] == ["gpu-recreate"]


def test_rule_gpu_by_runtime_class():
    vllm = m.workload("vllm", "server", "ml", "vllm/vllm-openai:v0.10.2", port=8000)
    vllm[0]["spec"]["template"]["spec"]["runtimeClassName"] = "nvidia"
    del vllm[0]["spec"]["strategy"]
    assert [v.rule for v in m.check_objects(vllm)] == ["gpu-recreate"]


def test_rule_pvc_storage():
    objects = proxy()
    del objects[0]["spec"]["resources"]
    found = m.check_file(file_of(objects), "demo.yaml")
    assert [(v.object, v.rule) for v in found] == [("PersistentVolumeClaim/dev-proxy-server", "pvc-storage")]


def test_rule_pvc_storage_in_claim_templates():
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": m.metadata("postgres", "server", "data"),
           "spec": {"template": {"spec": {"containers": []}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}
    assert [v.rule for v in m.check_objects([sts])] == ["pvc-storage"]


def dind(dns_policy="None", nameservers=("10.43.0.10",)):
    pod = {"containers": [{"name": "dind", "image": "docker:28-dind"}], "dnsPolicy": dns_policy}
    if nameservers:
        pod["dnsConfig"] = {"nameservers": list(nameservers)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": m.metadata("dev-containers", "tom", "dev"),
            "spec": {"strategy": {"type": "Recreate"}, "template": {"spec": pod}}}


def test_rule_dind_dns():
    assert m.check_objects([dind()]) == []
    assert [v.rule for v in m.check_objects([dind("ClusterFirst")])] == ["dind-dns"]
    assert [v.rule for v in m.check_objects([dind(nameservers=())])] == ["dind-dns"]


def test_rule_dind_dns_in_cronjobs_too():
    job = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": m.metadata("dev-containers", "build", "dev"),
           "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "d", "image": "docker:dind"}]}}}}}}
    assert [v.rule for v in m.check_objects([job])] == ["dind-dns"]


def test_rule_namespace_wrong_one():
    objects = m.workload("postgres", "server", "apps", "postgres:17", port=5432)
    found = m.check_objects(objects)
    assert {v.rule for v in found} == {"namespace"} and "belongs in namespace 'data'" in found[0].message


def test_rule_namespace_follows_the_inventorys_placement():
    objects = m.workload("n8n", "server", "flows", "n8nio/n8n:1", port=5678)
    header = HEADER.format(ns="flows")
    assert rules(file_of(objects, ns="flows", header=header)) == ["namespace"]  # the seed puts n8n in apps
    table = m.namespace_map({"n8n": "flows"})
    assert "n8n" in table["flows"] and "n8n" not in table["apps"] and "open-webui" in table["apps"]
    assert m.check_file(file_of(objects, ns="flows", header=header), "demo.yaml", table) == []
    # placed in flows, n8n is refused anywhere else, its seed namespace included
    found = m.check_file(file_of(m.workload("n8n", "server", "apps", "n8nio/n8n:1", port=5678), ns="apps"), "demo.yaml", table)
    assert [v.message for v in found if v.rule == "namespace"] == ["app 'n8n' belongs in namespace 'flows', not 'apps'"] * 2


def test_rule_namespace_unknown_app():
    objects = m.workload("wordpress", "server", "apps", "wordpress:6", port=80)
    assert {v.rule for v in m.check_objects(objects)} == {"namespace"}


def test_rule_namespace_missing():
    objects = proxy()
    del objects[1]["metadata"]["namespace"]
    assert [v.rule for v in m.check_objects(objects)] == ["namespace"]


def test_rule_namespace_helmchart_installs_elsewhere():
    chart = m.helm_chart({"repo": "r", "chart": "metallb", "version": "1"}, "metallb", "infra", "")
    chart["spec"]["targetNamespace"] = "kube-system"
    assert [v.rule for v in m.check_objects([chart])] == ["namespace"]


def test_rule_secret_name_and_no_values_in_files():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": m.metadata("n8n", "secrets", "apps")}
    assert m.check_objects([secret]) == []
    bad = copy.deepcopy(secret)
    bad["metadata"]["name"] = "n8n-credentials"
    assert [v.rule for v in m.check_objects([bad])] == ["secret"]
    valued = dict(secret, stringData={"k": "v"})  # the vault's values reach {app}-secrets on apply, never a file
    assert [v.message for v in m.check_objects([valued])] == [
        "a Secret with values in a manifest file: secrets come from the vault into {app}-secrets when applied, "
        "never into files"]
    encoded = dict(secret, data={"k": "dg=="})
    assert [v.rule for v in m.check_objects([encoded])] == ["secret", "secret"]  # base64 data, and values in a file


def test_rule_model_alias_apps_never_name_a_model_path():
    app = m.workload("open-webui", "server", "apps", "open-webui:1", port=8080, env={"DEFAULT_MODELS": "vllm-qwen"})
    assert m.check_objects(app) == []
    app = m.workload("open-webui", "server", "apps", "open-webui:1", port=8080,
                     env={"DEFAULT_MODELS": "Qwen/Qwen2.5-7B-Instruct-AWQ"})
    assert [(v.rule, v.message) for v in m.check_objects(app)] == [(
        "model-alias", "DEFAULT_MODELS='Qwen/Qwen2.5-7B-Instruct-AWQ' names a model path: ask LiteLLM for an alias "
        "(e.g. vllm-qwen)")]
    vllm = m.workload("vllm", "server", "ml", "vllm:1", port=8000, env={"MODEL": "Qwen/Qwen2.5-7B-Instruct-AWQ"})
    assert [v.rule for v in m.check_objects(vllm)] == []  # the model server itself names its model


def test_rule_litellm_endpoint_apps_never_reach_vllm_or_ollama():
    ok = m.workload("paperless-ai", "server", "docs", "p:1", port=3000,
                    env={"CUSTOM_BASE_URL": "http://litellm.ml.svc.cluster.local:4000/v1"})
    assert m.check_objects(ok) == []
    for url in ("http://vllm-api.ml.svc.cluster.local:8000/v1", "http://ollama.ml.svc.cluster.local:11434"):
        app = m.workload("paperless-ai", "server", "docs", "p:1", port=3000, env={"CUSTOM_BASE_URL": url})
        assert [v.rule for v in m.check_objects(app)] == ["litellm-endpoint"], url


def test_rule_helm_set_values_go_in_values_content():
    chart = m.helm_chart({"repo": "https://charts.example", "chart": "loki", "version": "1.0.0"}, "loki", "monitoring",
                         {"a": 1})
    assert m.check_objects([chart]) == []
    chart["spec"]["set"] = {"persistence.enabled": "true"}
    assert [v.rule for v in m.check_objects([chart])] == ["helm-set"]


def test_rule_gpu_only_vllm_never_assume_a_gpu():
    app = m.workload("open-webui", "server", "apps", "open-webui:1", port=8080,
                     resources={"limits": {"nvidia.com/gpu": 1}})
    assert [(v.rule, v.message) for v in m.check_objects(app)] == [(
        "gpu-only-vllm", "only vLLM uses the GPU (gpu-mode frees it for gaming): run open-webui on CPU, or ask "
        "LiteLLM, whose fallback is Ollama on CPU")]
    exporter = m.workload("dcgm-exporter", "exporter", "kube-system", "dcgm:1", port=9400)
    exporter[0]["spec"]["template"]["spec"]["runtimeClassName"] = "nvidia"
    assert m.check_objects(exporter) == []


def test_rule_public_exposure():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": m.metadata("n8n", "server", "apps", name="n8n"),
               "spec": {"type": "ClusterIP", "ports": [{"port": 5678}]}}
    assert m.check_objects([service]) == []
    for kind in ("NodePort", "LoadBalancer"):
        exposed = copy.deepcopy(service)
        exposed["spec"]["type"] = kind
        assert [v.rule for v in m.check_objects([exposed])] == ["public-exposure"], kind
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": m.metadata("metallb", "pool-default", "infra"),
            "spec": {"addresses": ["192.168.2.200-192.168.2.220", "100.100.1.0/28"]}}
    assert m.check_objects([pool]) == []
    pool["spec"]["addresses"] = ["1.1.1.10-1.1.1.20", "192.168.2.0/24", "8.8.8.0/30", "nope"]
    assert [v.message for v in m.check_objects([pool])] == [
        "address pool 1.1.1.10-1.1.1.20 is public: LoadBalancer addresses stay on the LAN (all access via "
        "Tailscale)",
        "address pool 8.8.8.0/30 is public: LoadBalancer addresses stay on the LAN (all access via Tailscale)",
        "address pool entry 'nope' is neither a CIDR nor a first-last range"]


def test_cluster_scoped_objects_need_no_namespace():
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
              "metadata": m.metadata("cert-manager", "issuer", name="letsencrypt-prod"), "spec": {}}
    assert m.check_objects([issuer]) == []


def test_a_yaml_list_document_is_read_as_its_objects():
    text = HEADER.format(ns="dev") + yaml.safe_dump(proxy())
    assert m.check_file(text, "demo.yaml") == []


def test_invalid_yaml_is_reported_not_raised():
    assert rules(HEADER.format(ns="dev") + "a: [\n") == ["header"]


def test_violation_reads_as_one_line():
    objects = proxy()
    objects[1]["metadata"]["name"] = "nginx"
    line = str(m.check_file(file_of(objects), "dev-proxy.yaml")[0])
    assert line.startswith("dev-proxy.yaml: Deployment/nginx: [naming] ")


def test_workload_validates_and_wires_secrets():
    with pytest.raises(m.ManifestError, match="needs an image"):
        m.workload("n8n", "server", "apps", "")
    with pytest.raises(m.ManifestError, match=r"n8n-server: the volume at /data \(5Gi\) needs a storage_class"):
        m.workload("n8n", "server", "apps", "n8n:1", volumes={"/data": "5Gi"})  # the inventory's class, never a guess
    objects = m.workload("n8n", "server", "apps", "n8n:1", port=5678, env={"A": "1", "KEY": {"secret": "k"}},
                         pod_labels={"homelab.platform/postgres-client": "true"})
    deployment, service = objects
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"},
                   {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "n8n-secrets", "key": "k"}}}]
    assert deployment["spec"]["template"]["metadata"]["labels"]["homelab.platform/postgres-client"] == "true"
    assert service["metadata"]["name"] == "n8n" and service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_workload_pods_get_no_service_links_a_startup_budget_and_an_init_command():
    """Kubernetes's service links would put PAPERLESS_AI_PORT=tcp://IP:3000 into a pod beside the Service
    paperless-ai, and Paperless-AI takes that as its port; probes give a first start ten minutes."""
    deployment, _service = m.workload(
        "paperless-ai", "server", "docs", "paperless-ai:3", port=3000, probe_path="/health",
        env={"A": "1", "KEY": {"secret": "k"}}, volumes={"/app/data": {"emptyDir": {}}}, init_command=["sh", "-c", "true"])
    pod = deployment["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False
    app, = pod["containers"]
    assert app["startupProbe"]["failureThreshold"] * app["startupProbe"]["periodSeconds"] == 600
    assert "initialDelaySeconds" not in app["livenessProbe"] and app["livenessProbe"]["timeoutSeconds"] == 5
    init, = pod["initContainers"]
    assert init == {"name": "init-server", "image": "paperless-ai:3", "env": app["env"],
                    "volumeMounts": app["volumeMounts"], "command": ["sh", "-c", "true"]}
    plain, = m.workload("tika", "server", "docs", "tika:3")
    assert "initContainers" not in plain["spec"]["template"]["spec"]


def test_every_rule_has_a_violating_test():
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    assert all('"%s"' % rule in source for rule in m.RULES)


def test_service_account_tokens_keep_their_account_name():
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": m.metadata("gpu-mode", "switcher", "ml", name="gpu-mode-switcher-token")}
    assert m.check_objects([token]) == []


def test_a_str_subclass_whose_str_is_itself_becomes_a_plain_str():
    class Unsafe(str):
        def __str__(self):  # pylint: disable=invalid-str-returned
            return self

    value = m.plain({Unsafe("k"): [Unsafe("v"), 1, True]})
    assert value == {"k": ["v", 1, True]}
    assert [type(x) for x in [*value, *value["k"]]] == [str, str, int, bool]
    assert m.to_manifests([{"kind": "ConfigMap", "data": {"a": Unsafe("x\ny")}}]).endswith("a: |-\n    x\n    y\n")


def test_a_str_subclass_whose_str_is_itself_is_read():
    """ansible-core 2.17's AnsibleUnsafeText returns itself from str() and a bytes subclass from encode(); libyaml
    refuses anything but an exact str or bytes."""
    class UnsafeBytes(bytes):
        pass

    class Unsafe(str):
        def __str__(self):  # pylint: disable=invalid-str-returned
            return self

        def encode(self, *args, **kwargs):
            return UnsafeBytes(super().encode(*args, **kwargs))

    assert m.load_objects(Unsafe("kind: ConfigMap\nmetadata: {name: a}\n---\n- {kind: Service}\n")) == [
        {"kind": "ConfigMap", "metadata": {"name": "a"}}, {"kind": "Service"}]

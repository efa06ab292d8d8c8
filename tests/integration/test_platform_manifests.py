"""Every manifest of every role, rendered by playbooks/render.yml with the example
inventory, held to seed 002 (the same checker the roles run before applying) and
validated: core kinds with kubernetes-validate for the pinned K3s minor, our custom
resources with the schemas in tests/integration/schemas.

Then every HelmChart among them is rendered by the real helm from the pinned chart archive (HOMELAB_HELM,
HOMELAB_CHARTS_DIR: the Makefile sets both), and the whole set of objects a K3s cluster then holds is held to what a
working home-lab needs: one default StorageClass, one default Grafana data source, no alert on a job nothing
scrapes, no Service with nothing behind it, no values key a chart does not know."""

import glob
import json
import os
import shutil

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ansible_collections.homelab.platform.plugins.module_utils import manifests as m
from conftest import ROOT, run_playbook
from support import charts

INVENTORY = os.path.join(ROOT, "inventories", "homelab")
SECRETS = os.path.join(ROOT, "tests", "integration", "vars", "platform-secrets.yml")
SCHEMAS = os.path.join(ROOT, "tests", "integration", "schemas")
K3S_VERSION = yaml.safe_load(open(os.path.join(INVENTORY, "group_vars", "all", "k3s.yml")))["k3s_version"]
K3S_MINOR = ".".join(K3S_VERSION.lstrip("v").split(".")[:2])
HELM = os.environ.get("HOMELAB_HELM", "")
CHARTS_DIR = os.environ.get("HOMELAB_CHARTS_DIR", "")
ROLE_TEMPLATES = sorted(
    path for path in glob.glob(os.path.join(ROOT, "roles", "*", "templates", "*.yaml.j2"))
    if not os.path.basename(path).startswith("values-"))


def render(tmp, *extra):
    return run_playbook(os.path.join(ROOT, "playbooks", "render.yml"), INVENTORY,
                        "-e", "homelab_render_dir=%s" % tmp, "-e", "@" + SECRETS, *extra)


@pytest.fixture(scope="module")
def render_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("manifests")
    proc = render(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return str(out)


@pytest.fixture(scope="module")
def rendered(render_dir):
    return {os.path.relpath(path, render_dir): open(path).read()
            for path in sorted(glob.glob(os.path.join(render_dir, "*", "*.yaml")))}


def crd_schema(obj):
    group_version = obj["apiVersion"].replace("/", "-")
    path = os.path.join(SCHEMAS, "%s-%s.yaml" % (obj["kind"].lower(), group_version))
    return yaml.safe_load(open(path)) if os.path.exists(path) else None


def test_every_manifest_template_of_every_role_is_rendered(rendered):
    expected = {"%s/%s" % (path.split(os.sep)[-3], os.path.basename(path)[:-3]) for path in ROLE_TEMPLATES}
    assert expected == set(rendered), "templates not covered by playbooks/render.yml"
    assert len(rendered) >= 30


def test_every_manifest_follows_seed_002(rendered):
    catalogue = m.parse_requirements(open(os.path.join(ROOT, "docs", "requirements.md"), encoding="utf-8").read())
    violations = [str(v) for name, text in rendered.items() for v in m.check_file(text, name, catalogue=catalogue)]
    assert violations == []


def test_every_object_is_valid_for_its_schema(rendered):
    checked, errors = 0, []
    for name, text in rendered.items():
        for obj in m.load_objects(text):
            where = "%s: %s/%s" % (name, obj["kind"], obj["metadata"]["name"])
            schema = crd_schema(obj)
            try:
                if schema is not None:
                    jsonschema.validate(obj, schema)
                else:
                    kubernetes_validate.validate(obj, K3S_MINOR, strict=True)
                checked += 1
            except kubernetes_validate.SchemaNotFoundError:
                errors.append("%s: no schema for %s (add one under tests/integration/schemas)" % (where, obj["apiVersion"]))
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
                errors.append("%s: %s" % (where, str(exc).splitlines()[0]))
    assert errors == []
    assert checked >= 60


def test_helm_values_are_mappings_and_charts_are_pinned(rendered):
    charts = [obj for text in rendered.values() for obj in m.load_objects(text) if obj["kind"] == "HelmChart"]
    assert {c["metadata"]["name"] for c in charts} >= {
        "nfs-subdir-external-provisioner", "metallb", "cert-manager", "kube-prometheus-stack", "loki",
        "kubernetes-dashboard", "gitea", "nvidia-device-plugin", "dcgm-exporter"}
    for chart in charts:
        assert isinstance(yaml.safe_load(chart["spec"]["valuesContent"]), dict), chart["metadata"]["name"]
        assert chart["spec"]["version"][0].isdigit() or chart["spec"]["version"].startswith("v")


def test_the_custom_resource_schemas_catch_a_misspelt_field(rendered):
    route = next(obj for text in rendered.values() for obj in m.load_objects(text)
                 if obj["kind"] == "IngressRoute")
    route["spec"]["entrypoints"] = route["spec"].pop("entryPoints")
    with pytest.raises(jsonschema.ValidationError, match="entrypoints"):
        jsonschema.validate(route, crd_schema(route))


def test_no_secret_is_rendered(rendered):
    secrets = yaml.safe_load(open(SECRETS))
    for name, text in rendered.items():
        assert all(value not in text for value in secrets.values()), name
        # vaulted values go to {app}-secrets on apply only; a token Secret carries no value (the API fills it)
        assert all(obj["kind"] != "Secret" or obj.get("type") == "kubernetes.io/service-account-token"
                   for obj in m.load_objects(text)), name


def test_expected_values_reach_the_manifests(rendered):
    objects = {(o["kind"], o["metadata"]["name"]): o for text in rendered.values() for o in m.load_objects(text)}
    pools = objects[("IPAddressPool", "metallb-pool-default")]
    assert pools["spec"]["addresses"] == ["192.168.2.200-192.168.2.220"]
    issuer = objects[("ClusterIssuer", "letsencrypt-prod")]
    assert "dns01" in issuer["spec"]["acme"]["solvers"][0]
    policy = objects[("NetworkPolicy", "postgres-network-policy")]
    assert policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"homelab.platform/postgres-client": "true"}
    for client in (("Deployment", "paperless-server"), ("Deployment", "n8n-server"), ("CronJob", "postgres-backup")):
        pod = objects[client]["spec"].get("jobTemplate", objects[client])["spec"]["template"]
        assert pod["metadata"]["labels"]["homelab.platform/postgres-client"] == "true", client
    ollama = objects[("Deployment", "ollama-server")]["spec"]["template"]["spec"]
    assert ollama["nodeSelector"] == {"kubernetes.io/hostname": "k3s-worker-02"}
    env = {e["name"]: e.get("value") for e in objects[("Deployment", "paperless-ai-server")]["spec"]["template"]["spec"]["containers"][0]["env"]}
    # the names Paperless-AI 3.0.7 reads (docs/app-settings.md): CUSTOM_MODEL, not LLM_MODEL; its port pinned
    assert env["CUSTOM_BASE_URL"] == "http://litellm.ml.svc.cluster.local:4000/v1" and env["CUSTOM_MODEL"] == "vllm-qwen"
    assert "LLM_MODEL" not in env and env["PAPERLESS_USERNAME"] == "admin" and env["PAPERLESS_AI_PORT"] == "3000"
    dind = objects[("Deployment", "dev-containers-tom")]["spec"]["template"]["spec"]
    assert dind["dnsPolicy"] == "None" and not any("jetzinger" in s for s in dind["dnsConfig"]["searches"])
    # dockerd's own arguments (the image's entrypoint adds tcp://0.0.0.0:2375 to any args that start with a flag)
    daemon = next(c for c in dind["containers"] if c["name"] == "dind")
    assert daemon["args"][0] == "dockerd" and "--host=tcp://127.0.0.1:2375" in daemon["args"]
    dashboards = objects[("ConfigMap", "grafana-dashboard-vllm-gpu")]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "vllm:num_requests_waiting" in dashboards["data"]["vllm-gpu.json"]


def test_a_violation_stops_the_role_before_anything_is_written(tmp_path):
    proc = render(tmp_path, "-e", '{"homelab_render_roles": ["ollama"], "ollama_storage_size": ""}')
    assert proc.returncode != 0
    assert "[pvc-storage] PVC without resources.requests.storage" in proc.stdout
    assert not os.path.exists(tmp_path / "ollama")


def test_alerting_values_keep_prometheus_templates(rendered):
    chart = next(o for o in m.load_objects(rendered["monitoring/kube-prometheus-stack.yaml"]) if o["kind"] == "HelmChart")
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    rules = {r["alert"]: r for g in values["additionalPrometheusRulesMap"]["homelab"]["groups"] for r in g["rules"]}
    assert set(rules) == {"CertificateExpiringSoon", "CertificateNotReady", "PostgresBackupFailed", "PostgresBackupMissing"}
    assert "{{ $labels.namespace }}/{{ $labels.name }}" in rules["CertificateNotReady"]["annotations"]["summary"]
    hook = values["alertmanager"]["config"]["receivers"][1]["webhook_configs"][0]["url"]
    assert hook.startswith("https://ntfy.sh/homelab-alerts?tpl=yes&t=%7B%7B.status%7D%7D")  # Go template, URL-encoded
    assert " " not in hook


def test_http01_is_chosen_in_the_inventory(tmp_path):
    proc = render(tmp_path, "-e", '{"homelab_render_roles": ["cert_manager"], "cert_manager_challenge": "http01",'
                                  ' "cert_manager_dns01_api_token": ""}')
    assert proc.returncode == 0, proc.stdout[-2000:]
    issuer = m.load_objects((tmp_path / "cert_manager" / "cert-manager-issuer.yaml").read_text())[0]
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]


def test_dns01_without_a_token_is_refused(tmp_path):
    proc = render(tmp_path, "-e", '{"homelab_render_roles": ["cert_manager"], "cert_manager_dns01_api_token": ""}')
    assert proc.returncode != 0
    assert "dns01 needs cert_manager_dns01_api_token (vault it)" in proc.stdout
    assert not (tmp_path / "cert_manager").exists()


def test_postgres_can_read_its_password_files(rendered):
    sts = next(o for o in m.load_objects(rendered["postgres/postgres.yaml"]) if o["kind"] == "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    secrets = next(v for v in pod["volumes"] if "secret" in v)
    # the init scripts run as the postgres user (uid/gid 999), not as root
    assert pod["securityContext"]["fsGroup"] == 999 and secrets["secret"]["defaultMode"] == 0o440


def test_the_inventory_wins_over_role_defaults(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    (inventory / "host_vars").mkdir(exist_ok=True)
    (inventory / "host_vars" / "localhost.yml").write_text(
        "---\nnvidia_gpu_node_selector: {gpu.example/probe: inventory-wins}\n")
    proc = run_playbook(os.path.join(ROOT, "playbooks", "render.yml"), inventory, "-e", "homelab_render_dir=%s" % tmp_path,
                        "-e", "@" + SECRETS, "-e", '{"homelab_render_roles": ["nvidia_gpu"]}')
    assert proc.returncode == 0, proc.stdout[-2000:]
    charts = m.load_objects((tmp_path / "nvidia_gpu" / "cluster.yaml").read_text())
    plugin = next(o for o in charts if o.get("metadata", {}).get("name") == "nvidia-device-plugin" and o["kind"] == "HelmChart")
    assert yaml.safe_load(plugin["spec"]["valuesContent"])["nodeSelector"] == {"gpu.example/probe": "inventory-wins"}


def test_k8s_manifests_is_internal_a_play_cannot_include_it(tmp_path):
    playbook = tmp_path / "direct.yml"
    playbook.write_text(
        "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: homelab.platform.k8s_manifests\n"
        "      vars:\n        k8s_manifests_namespace: ml\n        k8s_manifests_render_dir: %s\n"
        "        k8s_manifests_files: [[probe.yaml.j2, 'kind: ConfigMap']]\n" % (tmp_path / "out"))
    proc = run_playbook(playbook, INVENTORY)
    assert proc.returncode != 0
    assert "homelab.platform.k8s_manifests is internal" in proc.stdout
    assert not os.path.exists(tmp_path / "out")


def test_a_requirement_missing_from_the_catalogue_stops_the_role(tmp_path):
    # the collection's catalogue without FR-E06-2 (Ollama's model volume)
    catalogue = "".join(line for line in open(os.path.join(ROOT, "docs", "requirements.md"), encoding="utf-8")
                        if not line.startswith("| FR-E06-2 |"))
    proc = render(tmp_path, "-e", '{"homelab_render_roles": ["ollama"]}',
                  "-e", json.dumps({"k8s_manifests__catalogue": catalogue}))
    assert proc.returncode != 0
    assert "FR-E06-2 is not in the requirements catalogue (docs/requirements.md)" in proc.stdout
    assert "FR-E06-1 is not" not in proc.stdout
    assert not os.path.exists(tmp_path / "ollama")


# Each role -> the variable placing it and the namespace the inventory picks instead: the role's own variable, or the
# home-lab-wide one (homelab.platform.homelab) when other roles point at that namespace too (vLLM's is gpu-mode's).
MOVED = {"cert_manager": ("homelab_cert_manager_namespace", "edge"), "metallb": ("homelab_metallb_namespace", "edge"),
         "kubernetes_dashboard": ("kubernetes_dashboard_namespace", "edge"), "monitoring": ("homelab_monitoring_namespace", "observe"),
         "postgres": ("homelab_postgres_namespace", "db"), "ollama": ("homelab_ollama_namespace", "llm"),
         "litellm": ("homelab_litellm_namespace", "llm"), "vllm": ("homelab_vllm_namespace", "gpu"),
         "gpu_mode": ("homelab_vllm_namespace", "gpu"), "nvidia_gpu": ("homelab_nvidia_namespace", "gpu-system"),
         "dev_proxy": ("dev_proxy_namespace", "build"), "dev_containers": ("dev_containers_namespace", "build"),
         "gitea": ("gitea_namespace", "build"), "paperless": ("paperless_namespace", "paper"),
         "open_webui": ("open_webui_namespace", "chat"), "n8n": ("n8n_namespace", "flows")}


def objects_of(tmp_path):
    return {(o["kind"], o["metadata"]["name"]): o for path in glob.glob(os.path.join(str(tmp_path), "*", "*.yaml"))
            for o in m.load_objects(open(path, encoding="utf-8").read())}


def env_of(workload):
    spec = workload["spec"].get("jobTemplate", workload)["spec"]["template"]["spec"]
    return {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """One render with every namespace moved (MOVED) and every home-lab-wide name and port changed (RENAMED), with the
    checks on: each value must reach its owner and every consumer, whatever else the inventory changed."""
    out = tmp_path_factory.mktemp("moved")
    proc = render(out, "-e", json.dumps(dict(dict(MOVED.values()), **RENAMED)))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return out


def test_the_inventorys_namespaces_are_followed_with_the_checks_on(moved):
    tmp_path = moved
    elsewhere = {"gpu_mode/rbac-litellm.yaml": MOVED["litellm"][1]}  # gpu-mode's reader Role lives with LiteLLM
    for role, (variable, moved_to) in MOVED.items():
        files = glob.glob(os.path.join(str(tmp_path), role, "*.yaml"))
        assert files, (role, variable)
        for path in files:
            namespace = elsewhere.get(os.path.relpath(path, str(tmp_path)), moved_to)
            text = open(path, encoding="utf-8").read()
            assert "# Namespace: %s\n" % namespace in text, path
            for obj in m.load_objects(text):
                if obj["kind"] not in m.CLUSTER_SCOPED:
                    assert obj["metadata"]["namespace"] == namespace, (path, obj["kind"], obj["metadata"]["name"])
    reader = m.load_objects((tmp_path / "gpu_mode" / "rbac-litellm.yaml").read_text())
    assert {o["metadata"]["namespace"] for o in reader} == {"llm"}
    binding = next(o for o in reader if o["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gpu-mode-switcher", "namespace": "gpu"}]
    # ... and every role pointing at a moved app follows it
    objects = objects_of(tmp_path)
    litellm = "http://litellm-api.llm.svc.cluster.local:4400/v1"
    assert env_of(objects[("Deployment", "open-webui-server")])["OPENAI_API_BASE_URL"] == litellm
    assert env_of(objects[("Deployment", "paperless-ai-server")])["CUSTOM_BASE_URL"] == litellm
    config = yaml.safe_load(objects[("ConfigMap", "litellm-settings")]["data"]["config.yaml"])
    bases = {model["model_name"]: model["litellm_params"].get("api_base") for model in config["model_list"]}
    assert bases["vllm-qwen"] == bases["vllm-r1"] == "http://vllm-openai.gpu.svc.cluster.local:8800/v1"
    assert bases["ollama-qwen"] == "http://ollama-api.llm.svc.cluster.local:11500"
    assert env_of(objects[("Deployment", "n8n-server")])["DB_POSTGRESDB_HOST"] == "postgres-db.db.svc.cluster.local"
    assert env_of(objects[("Deployment", "paperless-server")])["PAPERLESS_DBHOST"] == "postgres-db.db.svc.cluster.local"
    values = yaml.safe_load(objects[("HelmChart", "kube-prometheus-stack")]["spec"]["valuesContent"])
    targets = {job["job_name"]: job["static_configs"][0]["targets"]
               for job in values["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]}
    assert targets == {"cert-manager": ["cert-manager.edge.svc.cluster.local:9402"]}
    monitors = {mon["name"]: mon["namespaceSelector"]["matchNames"] for mon in values["prometheus"]["additionalServiceMonitors"]}
    assert monitors == {"dcgm-exporter": ["gpu-system"], "vllm": ["gpu"]}


# The other home-lab-wide values (homelab.platform.homelab), each changed in the inventory.
RENAMED = {"homelab_storage_class": "shared-nfs", "homelab_postgres_service": "postgres-db",
           "homelab_vllm_deployment": "vllm-engine", "homelab_vllm_service": "vllm-openai", "homelab_vllm_port": 8800,
           "homelab_ollama_service": "ollama-api", "homelab_ollama_port": 11500, "homelab_litellm_service": "litellm-api",
           "homelab_litellm_port": 4400, "homelab_litellm_configmap": "litellm-settings"}


def test_every_home_lab_wide_value_reaches_its_owner_and_its_consumers_with_the_checks_on(moved):
    tmp_path = moved
    texts = {os.path.relpath(p, str(tmp_path)): open(p, encoding="utf-8").read()
             for p in glob.glob(os.path.join(str(tmp_path), "*", "*.yaml"))}
    assert not [name for name, text in texts.items() if "nfs-client" in text]
    for name in ("postgres/postgres.yaml", "postgres/postgres-backup.yaml", "monitoring/kube-prometheus-stack.yaml",
                 "monitoring/loki.yaml", "gitea/gitea.yaml", "dev_containers/dev-containers.yaml",
                 "nfs_storage/nfs-provisioner.yaml"):
        assert "shared-nfs" in texts[name], name
    objects = objects_of(tmp_path)
    services = {name: obj["spec"]["ports"][0]["port"] for (kind, name), obj in objects.items() if kind == "Service"}
    assert services["postgres-db"] == 5432 and services["vllm-openai"] == 8800
    assert services["ollama-api"] == 11500 and services["litellm-api"] == 4400
    assert not {"postgres", "vllm-api", "ollama", "litellm"} & set(services)
    vllm = objects[("Deployment", "vllm-engine")]
    assert objects[("Service", "vllm-openai")]["spec"]["selector"] == {"app": "vllm-engine"}
    assert vllm["spec"]["selector"]["matchLabels"] == {"app": "vllm-engine"}
    switcher = objects[("Role", "gpu-mode-switcher")]
    assert {"vllm-engine"} == {n for rule in switcher["rules"] for n in rule.get("resourceNames", []) if "vllm" in n}
    assert objects[("Role", "litellm-gpu-mode-reader")]["rules"][0]["resourceNames"] == ["litellm-settings"]
    proxy = objects[("Deployment", "litellm-proxy")]["spec"]["template"]["spec"]
    assert proxy["volumes"] == [{"name": "config", "configMap": {"name": "litellm-settings"}}]
    litellm = "http://litellm-api.llm.svc.cluster.local:4400/v1"
    assert env_of(objects[("Deployment", "open-webui-server")])["OPENAI_API_BASE_URL"] == litellm
    assert env_of(objects[("Deployment", "paperless-ai-server")])["CUSTOM_BASE_URL"] == litellm
    config = yaml.safe_load(objects[("ConfigMap", "litellm-settings")]["data"]["config.yaml"])
    bases = {model["model_name"]: model["litellm_params"].get("api_base") for model in config["model_list"]}
    assert bases["vllm-qwen"] == "http://vllm-openai.gpu.svc.cluster.local:8800/v1"
    assert bases["ollama-qwen"] == "http://ollama-api.llm.svc.cluster.local:11500"
    assert env_of(objects[("Job", next(n for k, n in objects if k == "Job" and n.startswith("ollama-pull")))])[
        "OLLAMA_HOST"] == "http://ollama-api.llm.svc.cluster.local:11500"
    assert env_of(objects[("Deployment", "n8n-server")])["DB_POSTGRESDB_HOST"] == "postgres-db.db.svc.cluster.local"
    assert env_of(objects[("Deployment", "paperless-server")])["PAPERLESS_DBHOST"] == "postgres-db.db.svc.cluster.local"
    values = yaml.safe_load(objects[("HelmChart", "kube-prometheus-stack")]["spec"]["valuesContent"])
    vllm_monitor = next(mon for mon in values["prometheus"]["additionalServiceMonitors"] if mon["name"] == "vllm")
    assert vllm_monitor["selector"]["matchLabels"].items() <= objects[("Service", "vllm-openai")]["metadata"]["labels"].items()


def test_gpu_modes_token_reads_only_litellms_configmap(rendered):
    switcher = next(o for o in m.load_objects(rendered["gpu_mode/rbac.yaml"]) if o["kind"] == "Role")
    assert all("configmaps" not in rule["resources"] for rule in switcher["rules"])
    reader = next(o for o in m.load_objects(rendered["gpu_mode/rbac-litellm.yaml"]) if o["kind"] == "Role")
    assert reader["metadata"]["namespace"] == "ml"
    assert reader["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["litellm-config"],
                                "verbs": ["get"]}]


def test_a_new_add_on_role_is_rendered_without_being_listed(tmp_path):
    """render.yml finds every role with manifest templates and its cluster entry point: an add-on is its role
    and its playbook, nothing else (here a copy of the collection with a few roles and a new one)."""
    collection = tmp_path / "collections" / "ansible_collections" / "homelab" / "platform"
    for part in ("plugins", "playbooks", "docs", "meta", "galaxy.yml"):
        source = os.path.join(ROOT, part)
        (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, str(collection / part))
    for role in ("homelab", "k8s_manifests", "ollama", "gpu_mode"):
        shutil.copytree(os.path.join(ROOT, "roles", role), str(collection / "roles" / role))
    new = collection / "roles" / "stirling_pdf"
    (new / "templates").mkdir(parents=True)
    (new / "tasks").mkdir()
    (new / "templates" / "stirling-pdf.yaml.j2").write_text(
        "# Stirling-PDF Service for home-lab\n# Namespace: docs\n#\n# Story: 10.1 - PDF tools\n"
        "# Epic: 10 - Paperless-ngx Document Management\n#\n# FRs:\n# - FR-E10-1: PDFs are processed\n#\n"
        "# NFRs:\n# - NFR-E03-5: no service without TLS\n"
        "{{ 'stirling-pdf' | homelab.platform.k8s_workload('server', 'docs', 'stirlingtools/stirling-pdf:1.0', port=8080)"
        " | homelab.platform.to_manifests }}\n")
    (new / "tasks" / "main.yml").write_text(yaml.safe_dump([
        {"name": "Render", "ansible.builtin.set_fact": {
            "stirling_pdf__manifests": "{{ ['stirling-pdf.yaml.j2'] | zip(query('ansible.builtin.template', "
                                       "'stirling-pdf.yaml.j2')) }}"}},
        {"name": "Manifests", "ansible.builtin.include_role": {"name": "homelab.platform.k8s_manifests"},
         "vars": {"k8s_manifests_files": "{{ stirling_pdf__manifests }}", "k8s_manifests_namespace": "docs"}}]))
    out = tmp_path / "out"
    proc = run_playbook(str(collection / "playbooks" / "render.yml"), INVENTORY, "-e", "homelab_render_dir=%s" % out,
                        "-e", "@" + SECRETS, env={"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(os.listdir(str(out))) == ["gpu_mode", "ollama", "stirling_pdf"]
    assert sorted(os.listdir(str(out / "gpu_mode"))) == ["rbac-litellm.yaml", "rbac.yaml"]  # its `cluster` entry point
    deployment = next(o for o in m.load_objects((out / "stirling_pdf" / "stirling-pdf.yaml").read_text())
                      if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "docs"


# ---------------------------------------------------------------- the real charts, and the cluster they make

@pytest.fixture(scope="module")
def helm_charts(rendered):
    return [obj for text in rendered.values() for obj in m.load_objects(text) if obj["kind"] == "HelmChart"]


@pytest.fixture(scope="module")
def chart_objects(helm_charts):
    """HelmChart name -> the objects the real helm renders from its pinned archive with its valuesContent, in the
    steady state of the cluster: the API versions of every chart's CRDs are served (a chart that checks
    .Capabilities renders then what it renders on the second install of the set)."""
    assert HELM and os.access(HELM, os.X_OK), \
        "HOMELAB_HELM must name the real helm binary: run through make (make tools installs it)"
    assert CHARTS_DIR and os.path.isdir(CHARTS_DIR), \
        "HOMELAB_CHARTS_DIR must name the directory of packaged charts (make sets it; CHARTS_DIR=... overrides)"
    archives, missing = {}, []
    for chart in helm_charts:
        try:
            archives[chart["metadata"]["name"]] = charts.archive(CHARTS_DIR, chart["spec"]["chart"],
                                                                 chart["spec"]["version"])
        except charts.ChartError as exc:
            missing.append(str(exc))
    assert missing == [], "charts the roles pin are missing:\n" + "\n".join(missing)

    def render_all(api_versions):
        return {chart["metadata"]["name"]: charts.template(
            HELM, archives[chart["metadata"]["name"]], chart["metadata"]["name"], chart["spec"]["targetNamespace"],
            chart["spec"]["valuesContent"], K3S_VERSION.split("+")[0], api_versions) for chart in helm_charts}

    first = render_all(())
    return render_all(charts.crd_api_versions(o for objs in first.values() for o in objs))


@pytest.fixture(scope="module")
def cluster_objects(render_dir, rendered, chart_objects):
    """Everything a K3s cluster holds once the add-ons are in, in the order it is applied: K3s's own, the charts,
    our manifests, the patches the roles apply to what K3s owns; then what the Prometheus operator makes of it."""
    objects = list(charts.K3S_PACKAGED)
    objects += [obj for objs in chart_objects.values() for obj in objs]
    objects += [obj for text in rendered.values() for obj in m.load_objects(text) if obj["kind"] != "HelmChart"]
    for path in sorted(glob.glob(os.path.join(render_dir, "*", "patch-*.yml"))):
        objects += m.load_objects(open(path).read())
    return objects + charts.operator_made(objects)


def test_every_chart_renders_with_the_real_helm_and_passes_its_schema(helm_charts, chart_objects):
    # helm template validates the values against the chart's values.schema.json; a refusal fails the fixture
    assert {chart["metadata"]["name"] for chart in helm_charts} == set(chart_objects)
    assert all(len(objects) > 0 for objects in chart_objects.values()), \
        {name: len(objects) for name, objects in chart_objects.items()}


def test_no_values_key_is_unknown_to_its_chart(helm_charts):
    unknown, read = {}, {}
    for chart in helm_charts:
        read[chart["spec"]["chart"]] = defaults, templates = charts.chart_values(
            charts.archive(CHARTS_DIR, chart["spec"]["chart"], chart["spec"]["version"]))
        found = charts.unknown_values(yaml.safe_load(chart["spec"]["valuesContent"]) or {}, defaults, templates)
        if found:
            unknown[chart["metadata"]["name"]] = found
    assert unknown == {}, "values keys the chart neither lists nor reads (silently ignored)"
    # and a misspelt key in a real chart is found
    defaults, templates = read["kube-prometheus-stack"]
    assert charts.unknown_values({"grafana": {"sidecar": {"datasourcez": {}}}, "kubeSchedulerr": {}}, defaults,
                                 templates) == ["grafana.sidecar.datasourcez", "kubeSchedulerr"]


def test_exactly_one_default_storage_class(cluster_objects):
    assert charts.default_storage_classes(cluster_objects) == ["nfs-client"]


def test_exactly_one_default_grafana_data_source_and_one_per_name(cluster_objects):
    sources = charts.grafana_datasources(cluster_objects)
    assert [name for name, default in sources if default] == ["Prometheus"], sources
    names = [name for name, _default in sources]
    assert sorted(set(names)) == sorted(names), "a data source provisioned twice: %s" % names
    assert "Loki" in names


def test_every_alert_names_a_job_that_is_scraped_on_k3s(cluster_objects):
    jobs = charts.scraped_jobs(cluster_objects)
    assert {"apiserver", "kubelet", "coredns", "node-exporter", "kube-state-metrics"} <= jobs
    assert charts.alerts_on_unscraped_jobs(cluster_objects, jobs) == []


def test_every_service_has_pods_behind_it(cluster_objects):
    assert charts.services_without_pods(cluster_objects) == []


def test_the_cluster_checks_find_what_they_look_for(cluster_objects):
    """The checks above fail on the defects they exist for (so a pass means something)."""
    unpatched = [o for o in cluster_objects if not (o["kind"] == "StorageClass" and o["metadata"]["name"] == "local-path"
                                                    and "provisioner" not in o)]
    assert charts.default_storage_classes(charts.K3S_PACKAGED + unpatched) == ["local-path", "nfs-client"]
    second = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "x", "namespace": "monitoring", "labels": {"grafana_datasource": "1"}},
              "data": {"x.yaml": "datasources: [{name: Loki, type: loki, isDefault: true}]"}}
    assert ("Loki", True) in charts.grafana_datasources(cluster_objects + [second])
    scheduler = {"kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "monitoring"},
                 "spec": {"groups": [{"name": "g", "rules": [{"alert": "KubeSchedulerDown",
                                                              "expr": 'absent(up{job="kube-scheduler"} == 1)'}]}]}}
    assert charts.alerts_on_unscraped_jobs([scheduler], charts.scraped_jobs(cluster_objects)) == \
        ["g/KubeSchedulerDown: job='kube-scheduler' is not scraped"]
    orphan = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "o", "namespace": "ml"},
              "spec": {"selector": {"app": "nothing"}}}
    assert charts.services_without_pods(cluster_objects + [orphan]) == ["ml/o: selector {'app': 'nothing'} matches no pod"]
    defaults, templates = {"grafana": {"sidecar": {"enabled": True}, "config": {}}}, "{{ .Values.grafana.sidecar }}"
    assert charts.unknown_values({"grafana": {"sidecarr": {}, "config": {"free": 1}}}, defaults, templates) == \
        ["grafana.sidecarr"]


def test_every_app_setting_we_pass_is_cited_in_docs_app_settings(rendered):
    """docs/app-settings.md names, per app, the upstream file that reads each setting we pass: every environment
    variable and every flag of our own workloads is listed there, so a new one comes with its citation."""
    doc = open(os.path.join(ROOT, "docs", "app-settings.md"), encoding="utf-8").read()
    missing = set()
    for text in rendered.values():
        for obj in m.load_objects(text):
            spec = obj.get("spec") or {}
            pod = (spec.get("jobTemplate", {}).get("spec", spec).get("template") or {}).get("spec") or {}
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                names = [env["name"] for env in container.get("env") or []]
                flags = [arg.split("=", 1)[0] for arg in container.get("args") or [] if arg.startswith("--")]
                missing |= {"%s %s" % (obj["metadata"]["name"], name) for name in names + flags
                            if "`%s" % name not in doc}
    assert sorted(missing) == []

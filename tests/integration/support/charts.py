"""The pinned charts, rendered by the real helm as K3s's helm-controller installs them, and the properties a
working home-lab needs of the whole set of objects.

K3s's helm-controller turns a HelmChart into a Job running klipper-helm, which runs `helm install NAME CHART
--namespace spec.targetNamespace --values <spec.valuesContent>` (k3s-io/helm-controller
pkg/controllers/chart/chart.go, the job's environment; k3s-io/klipper-helm entry script). `helm template` with the
same release name, namespace, values and the cluster's Kubernetes version renders the same objects; `--include-crds`
adds the chart's crds/ folder, which `helm install` applies first.

The charts come from a directory of `helm package` archives named CHART-VERSION.tgz (HOMELAB_CHARTS_DIR), the real
helm binary from HOMELAB_HELM: the Makefile sets both (make tools installs helm).
"""

import base64
import os
import re
import subprocess
import tarfile
import tempfile

import yaml

from ansible_collections.homelab.platform.plugins.module_utils import cluster_verify

from . import HANG_GUARD_SECONDS


class LOADER(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # pylint: disable=too-many-ancestors
    """YAML 1.1 as PyYAML reads it, plus a bare `=` read as the string it is to helm and Kubernetes (YAML 1.1's
    obsolete "value" type, which PyYAML resolves but cannot construct: CRD schemas hold `enum: [=, ...]`)."""


LOADER.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}

# What K3s itself runs on every cluster (its packaged manifests, k3s-io/k3s manifests/): the pods and classes our
# objects may rely on. coredns.yaml: Deployment coredns, pods `k8s-app: kube-dns`, Service kube-dns;
# local-storage.yaml: Deployment local-path-provisioner (`app: local-path-provisioner`) and the StorageClass
# local-path, annotated default; metrics-server/metrics-server-deployment.yaml: pods `k8s-app: metrics-server`;
# traefik.yaml: the bundled Traefik chart in kube-system (pods `app.kubernetes.io/name: traefik`).
K3S_PACKAGED = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system"},
     "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-dns"}}}}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "local-path-provisioner", "namespace": "kube-system"},
     "spec": {"template": {"metadata": {"labels": {"app": "local-path-provisioner"}}}}},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
     "metadata": {"name": "local-path", "annotations": {DEFAULT_CLASS: "true"}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "metrics-server", "namespace": "kube-system"},
     "spec": {"template": {"metadata": {"labels": {"k8s-app": "metrics-server"}}}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "traefik", "namespace": "kube-system"},
     "spec": {"template": {"metadata": {"labels": {
         "app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-kube-system"}}}}},
    # Every Kubernetes API server keeps the Service default/kubernetes and its Endpoints (its own address).
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver",
                                                                           "provider": "kubernetes"}},
     "spec": {"ports": [{"name": "https", "port": 443}]}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default"}},
]


class ChartError(Exception):
    """A chart that is missing from the directory, or that helm refuses to render."""


def load_all(text):
    return [doc for doc in yaml.load_all(text, Loader=LOADER) if isinstance(doc, dict)]


def archive(charts_dir, chart, version):
    path = os.path.join(charts_dir, "%s-%s.tgz" % (chart, version))
    if not os.path.isfile(path):
        raise ChartError("chart %s version %s is not in the charts directory %s: add %s-%s.tgz "
                         "(helm pull REPO/%s --version %s)" % (chart, version, charts_dir, chart, version, chart, version))
    return path


def helm_env(home):
    """helm with a home of its own: no repository, no cache, nothing of the user's read or written."""
    env = dict(os.environ)
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = os.path.join(home, name.lower())
    return env


def template(helm, chart_archive, release, namespace, values_text, kube_version, api_versions=()):
    """The objects `helm install` would create, CRDs first; each namespaced object without a namespace gets the
    release's (as helm install does)."""
    with tempfile.TemporaryDirectory() as home:
        values = os.path.join(home, "values.yaml")
        with open(values, "w", encoding="utf-8") as handle:
            handle.write(values_text)
        cmd = [helm, "template", release, chart_archive, "--namespace", namespace, "--values", values,
               "--include-crds", "--kube-version", kube_version]
        for api in sorted(api_versions):
            cmd += ["--api-versions", api]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=helm_env(home), check=False,
                              timeout=HANG_GUARD_SECONDS)
    if proc.returncode != 0:
        raise ChartError("helm template %s (%s) failed: %s"
                         % (release, os.path.basename(chart_archive), proc.stderr.strip()[-3000:]))
    objects = []
    for doc in load_all(proc.stdout):  # a v1 List (kube-prometheus-stack's additional monitors) is its items
        objects += doc.get("items") or [] if doc.get("kind") == "List" else [doc]
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("namespace", namespace)
    return objects


def crd_api_versions(objects):
    """group/version and group/version/Kind of every CRD's served versions: what the API server then offers."""
    found = set()
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj["spec"]
            for version in spec.get("versions", []):
                if version.get("served", True):
                    found.add("%s/%s" % (spec["group"], version["name"]))
                    found.add("%s/%s/%s" % (spec["group"], version["name"], spec["names"]["kind"]))
    return found


# ---------------------------------------------------------------- the chart's own values: what .Values can hold

def _members(tar):
    return {member.name: member for member in tar.getmembers() if member.isfile()}


def chart_values(chart_archive):
    """The chart's default values with each subchart's defaults under its name or alias, and the text that reads
    them: every template and every values.yaml (subcharts included; a chart may keep a template in its values, as
    Loki's `loki.config` does)."""
    with tarfile.open(chart_archive) as tar:
        files = _members(tar)

        def text(name):
            return tar.extractfile(files[name]).read().decode("utf-8", "replace")

        def read(name):
            return yaml.load(text(name), Loader=LOADER) if name in files else None

        def tree(prefix):
            values = read(prefix + "values.yaml") or {}
            for dep in (read(prefix + "Chart.yaml") or {}).get("dependencies") or []:
                sub = "%scharts/%s/" % (prefix, dep["name"])
                if sub + "Chart.yaml" in files:
                    key = dep.get("alias") or dep["name"]
                    merged = tree(sub)
                    if isinstance(values.get(key), dict):
                        merged.update(values[key])
                    values[key] = merged
            return values

        root = next(iter(files)).split("/", 1)[0] + "/"
        readers = "\n".join(text(name) for name in files
                            if "/templates/" in name or name.endswith("/values.yaml"))
        return tree(root), readers


def _passed_whole(key_path, readers):
    """Whether the chart hands the map at key_path (relative to its own or a subchart's .Values) to the app whole: a
    `toYaml` of it, a `range` over it, or a `with` block that renders `.` with toYaml (a config block such as
    grafana.ini or Loki's limits_config, where any key the app knows is valid)."""
    for start in range(len(key_path)):
        dotted = re.escape(".".join(key_path[start:]))
        quoted = r"index \.Values \"%s\"" % re.escape(".".join(key_path[start:]))
        for ref in (r"\.Values\.%s(?![\w.])" % dotted, quoted):
            if re.search(r"(toYaml|range [^}]*:=)\s*\(?\s*%s" % ref, readers) or \
                    re.search(r"%s\s*\)?\s*\|\s*toYaml" % ref, readers) or \
                    re.search(r"with %s\s*}}(?:(?!{{-?\s*end).){0,200}?toYaml" % ref, readers, re.S):
                return True
    return False


def unknown_values(values, defaults, readers, path=()):
    """Keys of `values` the chart does not know: not in its values.yaml (nor a subchart's) where that level lists its
    keys, and not read by any of its templates. Below a key whose default is empty ({}, [] or null) or that the chart
    passes to the app whole (a config block), anything goes."""
    found = []
    for key, value in values.items():
        here = path + (str(key),)
        if not path and key == "global":
            continue
        if isinstance(defaults, dict) and key in defaults:
            known = defaults[key]
            if isinstance(value, dict) and isinstance(known, dict) and known and not _passed_whole(here, readers):
                found += unknown_values(value, known, readers, here)
        elif isinstance(defaults, dict) and defaults and not re.search(r"\.%s\b" % re.escape(str(key)), readers):
            found.append(".".join(here))
    return found


# ---------------------------------------------------------------- properties of the whole set of objects

def operator_made(objects):
    """What the Prometheus operator creates from the objects: a StatefulSet per Prometheus and Alertmanager resource
    with the pod labels it sets (prometheus-operator pkg/prometheus/server/statefulset.go and
    pkg/alertmanager/statefulset.go), and the kubelet's Service and Endpoints its `--kubelet-service=NS/NAME` flag
    names (pkg/kubelet/controller.go: labels k8s-app and app.kubernetes.io/name `kubelet`, addresses from the Nodes)."""
    made = []
    for obj in objects:
        kind, name, namespace = obj.get("kind"), obj["metadata"].get("name"), _ns(obj)
        common = {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "prometheus-operator"}
        if kind == "Prometheus":
            labels = dict(common, **{"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": name,
                                     "operator.prometheus.io/shard": "0", "prometheus": name})
        elif kind == "Alertmanager":
            labels = dict(common, **{"app.kubernetes.io/name": "alertmanager", "alertmanager": name})
        else:
            labels = None
        if labels:
            made.append({"apiVersion": "apps/v1", "kind": "StatefulSet",
                         "metadata": {"name": "%s-%s" % (kind.lower(), name), "namespace": namespace},
                         "spec": {"template": {"metadata": {"labels": labels}}}})
        if kind == "Deployment":
            for container in ((obj["spec"].get("template") or {}).get("spec") or {}).get("containers") or []:
                for arg in container.get("args") or []:
                    if arg.startswith("--kubelet-service="):
                        svc_ns, svc_name = arg.split("=", 1)[1].split("/", 1)
                        meta = {"name": svc_name, "namespace": svc_ns}
                        made.append({"apiVersion": "v1", "kind": "Service", "spec": {},
                                     "metadata": dict(meta, labels={
                                         "k8s-app": "kubelet", "app.kubernetes.io/name": "kubelet",
                                         "app.kubernetes.io/managed-by": "prometheus-operator"})})
                        made.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta})
    return made


def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def _ns(obj):
    return (obj.get("metadata") or {}).get("namespace")


def pod_templates(objects):
    """(namespace, pod labels, owner) of every pod the objects make."""
    found = []
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
            kind = "Job"
        if kind == "Pod":
            found.append((_ns(obj), _labels(obj), "Pod/" + obj["metadata"]["name"]))
        elif kind in POD_KINDS:
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            found.append((_ns(obj), labels, "%s/%s" % (obj["kind"], obj["metadata"]["name"])))
    return found


def services_without_pods(objects):
    """Services whose selector matches no pod the objects make, and selector-less Services that no Endpoints or
    EndpointSlice fills: a Service nothing answers behind (nor a ServiceMonitor finds a target behind)."""
    pods = pod_templates(objects)
    endpoints = {(_ns(o), o["metadata"]["name"]) for o in objects if o.get("kind") == "Endpoints"}
    endpoints |= {(_ns(o), _labels(o).get("kubernetes.io/service-name")) for o in objects
                  if o.get("kind") == "EndpointSlice"}
    found = []
    for svc in objects:
        if svc.get("kind") != "Service" or (svc.get("spec") or {}).get("type") == "ExternalName":
            continue
        selector = svc["spec"].get("selector") or {}
        name = "%s/%s" % (_ns(svc), svc["metadata"]["name"])
        if not selector:
            if (_ns(svc), svc["metadata"]["name"]) not in endpoints:
                found.append("%s: no selector and no Endpoints" % name)
        elif not any(ns == _ns(svc) and all(labels.get(k) == v for k, v in selector.items())
                     for ns, labels, _owner in pods):
            found.append("%s: selector %s matches no pod" % (name, selector))
    return found


def default_storage_classes(objects):
    """StorageClasses that end up default, objects applied in order (a later one, or a patch, wins)."""
    classes = {}
    for obj in objects:
        if obj.get("kind") == "StorageClass":
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if DEFAULT_CLASS in annotations:
                classes[obj["metadata"]["name"]] = str(annotations[DEFAULT_CLASS]).lower() == "true"
            else:
                classes.setdefault(obj["metadata"]["name"], False)
    return sorted(name for name, default in classes.items() if default)


def grafana_datasources(objects, label="grafana_datasource"):
    """(name, isDefault) of every data source the Grafana sidecar provisions: the files of the ConfigMaps and
    Secrets with its label (kube-prometheus-stack's grafana.sidecar.datasources.label), read by the parser
    verify.yml uses (module_utils/cluster_verify.datasources)."""
    documents = []
    for obj in objects:
        if obj.get("kind") not in ("ConfigMap", "Secret") or label not in _labels(obj):
            continue
        if obj["kind"] == "Secret":
            documents += [base64.b64decode(v).decode("utf-8") for v in (obj.get("data") or {}).values()]
            documents += list((obj.get("stringData") or {}).values())
        else:
            documents += list((obj.get("data") or {}).values())
    return [(source.get("name"), source.get("isDefault") is True) for source in cluster_verify.datasources(documents)]


def _scrape_config_jobs(objects):
    """job_name of kube-prometheus-stack's additional scrape configs (its Secret additional-scrape-configs.yaml)."""
    jobs = set()
    for obj in objects:
        if obj.get("kind") == "Secret" and "additional-scrape-configs.yaml" in (obj.get("data") or {}):
            text = base64.b64decode(obj["data"]["additional-scrape-configs.yaml"]).decode("utf-8")
            jobs |= {config["job_name"] for config in yaml.load(text, Loader=LOADER) or []}
    return jobs


def scraped_jobs(objects):
    """The `job` labels Prometheus's targets get: a ServiceMonitor's Services that have something behind them (job =
    the Service's name, or the value of its spec.jobLabel label; a relabeling to `job` wins), PodMonitors (job =
    namespace/name), and the additional scrape configs."""
    empty = {entry.split(":", 1)[0] for entry in services_without_pods(objects)}
    services = [o for o in objects if o.get("kind") == "Service" and "%s/%s" % (_ns(o), o["metadata"]["name"]) not in empty]
    jobs = _scrape_config_jobs(objects)
    for mon in objects:
        if mon.get("kind") == "PodMonitor":
            jobs.add("%s/%s" % (_ns(mon), mon["metadata"]["name"]))
        if mon.get("kind") != "ServiceMonitor":
            continue
        spec = mon.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        ns_selector = spec.get("namespaceSelector") or {}
        namespaces = None if ns_selector.get("any") else set(ns_selector.get("matchNames") or [_ns(mon)])
        relabelled = [r.get("replacement") for ep in spec.get("endpoints") or []
                      for r in ep.get("relabelings") or [] if r.get("targetLabel") == "job" and r.get("replacement")]
        for svc in services:
            if (namespaces is None or _ns(svc) in namespaces) and \
                    all(_labels(svc).get(k) == v for k, v in selector.items()):
                if relabelled:
                    jobs.update(relabelled)
                elif spec.get("jobLabel"):
                    jobs.add(_labels(svc).get(spec["jobLabel"], svc["metadata"]["name"]))
                else:
                    jobs.add(svc["metadata"]["name"])
    return jobs


JOB_MATCHER = re.compile(r'\bjob\s*(=~|=)\s*"([^"]*)"')


def alerts_on_unscraped_jobs(objects, jobs):
    """Alert rules that name a `job` no target has: such an alert never clears (an absent() rule fires forever) or
    can never fire. Each entry names the rule group, the alert and the job."""
    found = []
    for rule_set in objects:
        if rule_set.get("kind") != "PrometheusRule":
            continue
        for group in (rule_set.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" not in rule:
                    continue
                for op, job in JOB_MATCHER.findall(str(rule.get("expr", ""))):
                    if "$" in job or "{{" in job:
                        continue
                    matches = [j for j in jobs if (j == job if op == "=" else re.fullmatch(job, j))]
                    if not matches:
                        found.append("%s/%s: job%s%r is not scraped" % (group["name"], rule["alert"], op, job))
    return sorted(set(found))

# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes manifests the seed 002 way: builders (labels, HelmChart, the
IngressRoute triplet) and the checker that holds every manifest to the seed's
conventions. Plain data in, plain data out; no Ansible, no cluster."""

from __future__ import annotations

import ipaddress
import re

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None

PART_OF = "home-lab"
LABEL_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of",
              "app.kubernetes.io/component", "app.kubernetes.io/managed-by")
CLUSTER_ISSUER = "letsencrypt-prod"
REDIRECT_MIDDLEWARE = "https-redirect"
VLLM_MODEL_CACHE = "/var/lib/vllm/huggingface"

# Seed 002 "Namespace Boundaries": which namespace each app lives in. Apps the seed
# does not place (Kubernetes Dashboard, Gitea) are placed by ADR-007.
SEED_NAMESPACES = {
    "kube-system": ("traefik", "coredns", "nfs-subdir-external-provisioner", "local-path-provisioner",
                    "nvidia-device-plugin", "dcgm-exporter"),
    "infra": ("metallb", "cert-manager", "kubernetes-dashboard"),
    "monitoring": ("kube-prometheus-stack", "prometheus", "grafana", "loki", "alloy", "alertmanager"),
    "data": ("postgres",),
    "apps": ("n8n", "open-webui", "openclaw"),
    "ml": ("vllm", "ollama", "litellm", "gpu-mode"),
    "docs": ("paperless", "paperless-ai", "paperless-gpt", "docling", "tika", "gotenberg", "stirling-pdf"),
    "dev": ("dev-proxy", "dev-containers", "gitea"),
}
# Names fixed by the seed (or by K3s: the nvidia runtime handler); they do not follow {app}-{component}.
SEED_NAMES = {("Middleware", REDIRECT_MIDDLEWARE), ("ClusterIssuer", CLUSTER_ISSUER), ("StorageClass", "nfs-client"),
              ("RuntimeClass", "nvidia")}
# Objects one per namespace that every app there shares (the triplet's redirect Middleware): the same object from
# every role that renders it, labelled as Traefik's, so no role rewrites another's labels on each run.
SHARED = {("Middleware", REDIRECT_MIDDLEWARE): "traefik"}
CLUSTER_SCOPED = {"Namespace", "ClusterIssuer", "StorageClass", "ClusterRole", "ClusterRoleBinding",
                  "RuntimeClass", "CustomResourceDefinition", "PersistentVolume", "PriorityClass"}
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"), "Pod": ("spec",),
}
HEADER = re.compile(
    r"\A# (?P<title>\S.*) for home-lab\n"
    r"# Namespace: (?P<namespace>\S+)\n#\n"
    r"# Story: \d+\.\d+ - \S.*\n"
    r"# Epic: (?P<epics>\d+ - \S.*)\n#\n"
    r"# FRs:\n(?:# - [A-Z][A-Z0-9-]*\d: \S.*\n)+#\n"
    r"# NFRs:\n(?:# - [A-Z][A-Z0-9-]*\d: \S.*\n)+")
HOST = re.compile(r"Host\(`([^`]+)`\)")
# docs/requirements.md: "| ID | Epics | Requirement | Source |" rows; a header cites "# - ID: text".
CATALOGUE_ROW = re.compile(r"^\|\s*(?P<id>N?FR[A-Z0-9-]*\d)\s*\|\s*(?P<epics>\d+(?:\s*,\s*\d+)*)\s*\|", re.M)
CITED = re.compile(r"^# - (?P<id>[A-Z][A-Z0-9-]*\d):", re.M)
RULES = ("header", "labels", "naming", "no-ingress", "ingressroute-triplet", "tls", "hostpath",
         "gpu-recreate", "pvc-storage", "dind-dns", "namespace", "secret", "model-alias", "litellm-endpoint",
         "helm-set", "gpu-only-vllm", "public-exposure")
# Seed 002's ML rules: apps ask LiteLLM for an alias; only these apps name models and reach vLLM or Ollama directly.
ML_BACKENDS = ("vllm", "ollama", "litellm", "gpu-mode")
# "NEVER assume GPU is available": vLLM alone uses the GPU (gpu-mode frees it for gaming, LiteLLM falls back to
# Ollama on CPU); NVIDIA's own device plugin and exporter run on it, and the verify pod checks it.
GPU_APPS = ("vllm", "nvidia-device-plugin", "dcgm-exporter", "gpu-verify")
MODEL_ENV = re.compile(r"MODEL", re.I)
BACKEND_URL = re.compile(r"\b[a-z]+://(?:vllm|ollama)[a-z0-9-]*[.:/]", re.I)
# "NEVER use public IP exposure": addresses MetalLB may hand out must be private (LAN) or the tailnet's CGNAT range.
TAILNET = ipaddress.ip_network("100.64.0.0/10")


class ManifestError(ValueError):
    """Input a builder cannot turn into a manifest."""


def labels(app, component, managed_by="ansible"):
    """The five recommended labels of seed 002."""
    if not app or not component:
        raise ManifestError("labels need an app and a component (got %r, %r)" % (app, component))
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": "%s-%s" % (app, component),
            "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": managed_by}


def metadata(app, component, namespace=None, name=None, extra_labels=None):
    """metadata with the seed's name ({app}-{component}) and labels."""
    meta = {"name": name or "%s-%s" % (app, component)}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels(app, component), **(extra_labels or {}))
    return meta


def helm_chart(chart, app, namespace, values, component="chart"):
    """A K3s HelmChart (helm.cattle.io/v1) for chart = {repo, chart, version[, name]}.

    The HelmChart lives in the app's namespace and installs there; `values` is the
    rendered values-homelab.yaml (a YAML mapping, never --set)."""
    missing = [key for key in ("repo", "chart", "version") if not chart.get(key)]
    if missing:
        raise ManifestError("chart %r lacks %s (charts are pinned: repo, chart and version)"
                            % (chart.get("chart", app), ", ".join(missing)))
    chart, values = plain(chart), plain(values)
    text = values if isinstance(values, str) else yaml.safe_dump(values, sort_keys=False)
    text = text.rstrip("\n") + "\n"
    parsed = yaml.safe_load(text) if text.strip() else {}
    if not isinstance(parsed, dict):
        raise ManifestError("values for chart %s must be a YAML mapping" % chart["chart"])
    return {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": metadata(app, component, namespace, name=chart.get("name", app)),
            "spec": {"repo": chart["repo"], "chart": chart["chart"], "version": str(chart["version"]),
                     "targetNamespace": namespace, "valuesContent": text}}


def ingress_triplet(service, app, namespace, domain, backend, port, component="ingress"):
    """Seed 002's exposure: Certificate + HTTPS IngressRoute (websecure) + HTTP redirect
    IngressRoute (web) with the https-redirect Middleware in the same namespace."""
    if not domain or not service:
        raise ManifestError("an exposed service needs a service name and a domain (got %r, %r)" % (service, domain))
    host = "%s.%s" % (service, domain)
    secret = "%s-tls" % app
    match = "Host(`%s`)" % host
    return [
        {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
         "metadata": metadata(SHARED[("Middleware", REDIRECT_MIDDLEWARE)], "https-redirect", namespace,
                              name=REDIRECT_MIDDLEWARE),
         "spec": {"redirectScheme": {"scheme": "https", "permanent": True}}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
         "metadata": metadata(app, "certificate", namespace, name="%s-certificate" % app),
         "spec": {"secretName": secret, "dnsNames": [host],
                  "issuerRef": {"name": CLUSTER_ISSUER, "kind": "ClusterIssuer"}}},
        {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
         "metadata": metadata(app, component, namespace),
         "spec": {"entryPoints": ["websecure"],
                  "routes": [{"match": match, "kind": "Rule", "services": [{"name": backend, "port": port}]}],
                  "tls": {"secretName": secret}}},
        {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
         "metadata": metadata(app, "%s-redirect" % component, namespace),
         "spec": {"entryPoints": ["web"],
                  "routes": [{"match": match, "kind": "Rule", "services": [{"name": backend, "port": port}],
                              "middlewares": [{"name": REDIRECT_MIDDLEWARE, "namespace": namespace}]}]}},
    ]


def plain(value):
    """Plain Python types (templating engines hand over str/dict/list subclasses). A str subclass becomes an exact
    str through str's own __str__ (str() of ansible-core 2.17's AnsibleUnsafeText returns the subclass itself)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    for kind in (int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


if yaml is not None:
    class _Dumper(yaml.SafeDumper):
        """Multi-line strings (values files, scripts, configs) as literal blocks."""

    def _str(dumper, data):
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)


def workload(app, component, namespace, image, port=None, env=None, volumes=None, service=None,
             probe_path=None, resources=None, pod_labels=None, node_selector=None, storage_class=None,
             args=None, secret=None, init_command=None):
    """Deployment (+ Service, + PVCs) of one container the seed 002 way.

    volumes: mount path -> "10Gi" (a PVC {app}-{component}-{n} on storage_class) or a pod
    volume source such as {"configMap": {"name": ...}} or {"emptyDir": {}}; env: name -> value
    or {"secret": key} (from {app}-secrets, or the Secret named by `secret`). Deployments use
    Recreate: their RWO volumes must be released before the new pod starts.

    The pod gets no service links: Kubernetes would otherwise put {SERVICE}_PORT=tcp://IP:PORT variables into it,
    which apps that read {APP}_PORT as their port number take (paperless-ngx's PAPERLESS_PORT, Paperless-AI's
    PAPERLESS_AI_PORT). Probes: a startup probe gives the app up to 10 minutes (first start: migrations, index
    builds), then liveness and readiness take over. init_command runs first in an init container of the same image,
    env and volumes (e.g. to write a config file the app wants)."""
    if not image:
        raise ManifestError("%s-%s needs an image" % (app, component))
    selector = labels(app, component)
    objects, mounts, pod_volumes = [], [], []
    for index, (path, source) in enumerate(sorted((volumes or {}).items())):
        name = "%s-%s" % (component, index) if len(volumes) > 1 else component
        if isinstance(source, str):
            if not storage_class:
                raise ManifestError("%s-%s: the volume at %s (%s) needs a storage_class" % (app, component, path, source))
            claim = "%s-%s" % (app, name)
            objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": metadata(app, name, namespace),
                            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                                     "resources": {"requests": {"storage": source}}}})
            pod_volumes.append({"name": "v%d" % index, "persistentVolumeClaim": {"claimName": claim}})
        else:
            pod_volumes.append(dict(source, name="v%d" % index))
        mounts.append({"name": "v%d" % index, "mountPath": path})
    container = {"name": component, "image": image}
    if args:
        container["args"] = list(args)
    if port:
        container["ports"] = [{"name": "http", "containerPort": port}]
    if env:
        container["env"] = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": secret or "%s-secrets" % app, "key": value["secret"]}}}
            if isinstance(value, dict) else {"name": key, "value": str(value)}
            for key, value in sorted(env.items())]
    if probe_path and port:
        probe = {"httpGet": {"path": probe_path, "port": "http"}, "timeoutSeconds": 5}
        container["startupProbe"] = dict(probe, periodSeconds=10, failureThreshold=60)
        container["readinessProbe"] = dict(probe, periodSeconds=15)
        container["livenessProbe"] = dict(probe, periodSeconds=15, failureThreshold=5)
    if resources:
        container["resources"] = resources
    if mounts:
        container["volumeMounts"] = mounts
    pod = {"enableServiceLinks": False, "containers": [container]}
    if init_command:
        init = {key: value for key, value in container.items() if key in ("image", "env", "volumeMounts")}
        pod["initContainers"] = [dict(init, name="init-" + component, command=list(init_command))]
    if pod_volumes:
        pod["volumes"] = pod_volumes
    if node_selector:
        pod["nodeSelector"] = dict(node_selector)
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(app, component, namespace),
                    "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": selector},
                             "template": {"metadata": {"labels": dict(selector, **(pod_labels or {}))}, "spec": pod}}})
    if port:
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": metadata(app, component, namespace, name=service or app),
                        "spec": {"type": "ClusterIP", "selector": selector,
                                 "ports": [{"name": "http", "port": port, "targetPort": "http"}]}})
    return objects


def to_manifests(objects):
    """Multi-document YAML, one object per document, `---` between them (seed 002)."""
    objects = plain([objects] if isinstance(objects, dict) else objects)
    return "\n---\n".join(yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120).rstrip("\n")
                          for obj in objects) + "\n"


# ---------------------------------------------------------------- checker

class Violation(tuple):
    """(source, object, rule, message); str() is the line users read."""

    __slots__ = ()

    def __new__(cls, source, obj, rule, message):
        return tuple.__new__(cls, (source, obj, rule, message))

    source = property(lambda self: self[0])
    object = property(lambda self: self[1])
    rule = property(lambda self: self[2])
    message = property(lambda self: self[3])

    def __str__(self):
        return "%s: %s: [%s] %s" % self


def load_objects(text):
    """The objects of a manifest file: multi-document YAML, a document may be a list. Parsed with libyaml's
    safe loader where PyYAML has it (the same objects, several times faster), else the Python one. libyaml reads
    only an exact str or bytes, so a subclass of str (Ansible's unsafe or tagged strings) is handed over as the exact
    str plain() makes of it."""
    objects = []
    for doc in yaml.load_all(plain(str(text)), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if doc is None:
            continue
        objects.extend(doc if isinstance(doc, list) else [doc])
    return objects


def _dig(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _ident(obj):
    return "%s/%s" % (obj.get("kind", "?"), _dig(obj, ("metadata", "name")) or "?")


def _app_of(obj):
    return (_dig(obj, ("metadata", "labels")) or {}).get("app.kubernetes.io/name")


def namespace_map(placement=None, base=None):
    """The namespace table ({namespace: apps}) with the apps of `placement` ({app: namespace}, the
    inventory's choices) moved to their configured namespace; `base` defaults to seed 002's table."""
    placement = placement or {}
    table = {namespace: tuple(app for app in apps if app not in placement)
             for namespace, apps in (SEED_NAMESPACES if base is None else base).items()}
    for app, namespace in placement.items():
        table[namespace] = table.get(namespace, ()) + (app,)
    return table


def _seed_namespace(app, namespaces):
    for namespace, apps in namespaces.items():
        if app in apps:
            return namespace
    return None


def _containers(pod):
    return list(pod.get("initContainers") or []) + list(pod.get("containers") or [])


def _check_labels(obj):
    found = _dig(obj, ("metadata", "labels")) or {}
    missing = [key for key in LABEL_KEYS if not found.get(key)]
    if missing:
        yield "labels", "missing recommended labels: %s" % ", ".join(missing)
        return
    if found["app.kubernetes.io/part-of"] != PART_OF:
        yield "labels", "app.kubernetes.io/part-of is %r, not %r" % (found["app.kubernetes.io/part-of"], PART_OF)
    expected = "%s-%s" % (found["app.kubernetes.io/name"], found["app.kubernetes.io/component"])
    if found["app.kubernetes.io/instance"] != expected:
        yield "labels", "app.kubernetes.io/instance is %r, expected {app}-{component} = %r" % (
            found["app.kubernetes.io/instance"], expected)


def _check_naming(obj):
    app, name, kind = _app_of(obj), _dig(obj, ("metadata", "name")) or "", obj.get("kind")
    if (kind, name) in SEED_NAMES or not app:
        return
    if name != app and not name.startswith(app + "-"):
        yield "naming", "name %r does not follow {app}-{component} for app %r" % (name, app)
    token = obj.get("type") == "kubernetes.io/service-account-token"  # named after its ServiceAccount
    if kind == "Secret" and not token and name != app + "-secrets":
        yield "secret", "Secrets are named {app}-secrets, expected %r" % (app + "-secrets")
    if kind == "Secret" and obj.get("data"):
        yield "secret", "use stringData, not base64 data"


def _check_namespace(obj, namespaces):
    if obj.get("kind") in CLUSTER_SCOPED or (obj.get("kind"), _dig(obj, ("metadata", "name"))) in SHARED:
        return
    namespace = _dig(obj, ("metadata", "namespace"))
    app = _app_of(obj)
    expected = _seed_namespace(app, namespaces)
    if not namespace:
        yield "namespace", "no namespace set (expected %s)" % (expected or "the app's seed namespace")
    elif app and expected is None:
        yield "namespace", "app %r has no seed namespace (seed 002 Namespace Boundaries / ADR-007)" % app
    elif expected and namespace != expected:
        yield "namespace", "app %r belongs in namespace %r, not %r" % (app, expected, namespace)
    if obj.get("kind") == "HelmChart" and _dig(obj, ("spec", "targetNamespace")) != namespace:
        yield "namespace", "HelmChart installs into %r, not its own namespace %r" % (
            _dig(obj, ("spec", "targetNamespace")), namespace)


def _check_pod(obj, pod):
    for volume in pod.get("volumes") or []:
        path = _dig(volume, ("hostPath", "path"))
        if path is not None and (_app_of(obj) != "vllm" or path.rstrip("/") != VLLM_MODEL_CACHE):
            yield "hostpath", "hostPath %r (volume %s): hostPath is only for the vLLM model cache %s" % (
                path, volume.get("name"), VLLM_MODEL_CACHE)
    gpu = pod.get("runtimeClassName") == "nvidia" or any(
        "nvidia.com/gpu" in (_dig(c, ("resources", "limits")) or {}) or
        "nvidia.com/gpu" in (_dig(c, ("resources", "requests")) or {}) for c in _containers(pod))
    if gpu and _app_of(obj) not in GPU_APPS:
        yield "gpu-only-vllm", "only vLLM uses the GPU (gpu-mode frees it for gaming): run %s on CPU, or ask " \
            "LiteLLM, whose fallback is Ollama on CPU" % (_app_of(obj) or "this workload")
    if gpu and obj.get("kind") == "Deployment" and _dig(obj, ("spec", "strategy", "type")) != "Recreate":
        yield "gpu-recreate", "a GPU Deployment needs strategy.type: Recreate (exclusive GPU access)"
    dind = any("dind" in str(c.get("image", "")) for c in _containers(pod))
    if dind and (pod.get("dnsPolicy") != "None" or not _dig(pod, ("dnsConfig", "nameservers"))):
        yield "dind-dns", "DinD pods need dnsPolicy: None with dnsConfig.nameservers (wildcard DNS interception)"


def _pool_addresses(pool):
    """(text, first, last) of each MetalLB address (a CIDR or a first-last range)."""
    for text in _dig(pool, ("spec", "addresses")) or []:
        try:
            if "-" in str(text):
                first, last = (ipaddress.ip_address(part.strip()) for part in str(text).split("-", 1))
            else:
                network = ipaddress.ip_network(str(text), strict=False)
                first, last = network[0], network[-1]
        except ValueError:
            yield str(text), None, None
            continue
        yield str(text), first, last


def _private(address):
    return address.is_private or address in TAILNET


def _check_exposure(obj):
    kind = obj.get("kind")
    if kind == "Service" and _dig(obj, ("spec", "type")) in ("NodePort", "LoadBalancer"):
        yield "public-exposure", "Service type %s exposes the app on the nodes' addresses: reach it through the " \
            "IngressRoute triplet over Tailscale (a ClusterIP Service)" % _dig(obj, ("spec", "type"))
    if kind == "IPAddressPool":
        for text, first, last in _pool_addresses(obj):
            if first is None:
                yield "public-exposure", "address pool entry %r is neither a CIDR nor a first-last range" % text
            elif not (_private(first) and _private(last)):
                yield "public-exposure", "address pool %s is public: LoadBalancer addresses stay on the LAN " \
                    "(all access via Tailscale)" % text


def _check_ml(obj, pod):
    app = _app_of(obj)
    if app in ML_BACKENDS:
        return
    for container in _containers(pod):
        for env in container.get("env") or []:
            value = str(env.get("value", ""))
            if MODEL_ENV.search(str(env.get("name", ""))) and "/" in value:
                yield "model-alias", "%s=%r names a model path: ask LiteLLM for an alias (e.g. vllm-qwen)" % (
                    env.get("name"), value)
            if BACKEND_URL.search(value):
                yield "litellm-endpoint", "%s=%r reaches vLLM or Ollama directly: apps use LiteLLM's endpoint" % (
                    env.get("name"), value)


def _check_object(obj, namespaces):
    kind = obj.get("kind")
    yield from _check_labels(obj)
    yield from _check_naming(obj)
    yield from _check_namespace(obj, namespaces)
    if kind == "Ingress":
        yield "no-ingress", "standard Ingress is not used: expose with the IngressRoute triplet (Traefik CRD)"
    if kind == "HelmChart" and _dig(obj, ("spec", "set")):
        yield "helm-set", "HelmChart spec.set is helm's --set: put the values in valuesContent (values-homelab.yaml)"
    if kind == "Secret" and (obj.get("stringData") or obj.get("data")):
        yield "secret", "a Secret with values in a manifest file: secrets come from the vault into {app}-secrets " \
            "when applied, never into files"
    yield from _check_exposure(obj)
    if kind == "PersistentVolumeClaim" and not _dig(obj, ("spec", "resources", "requests", "storage")):
        yield "pvc-storage", "PVC without resources.requests.storage"
    for claim in _dig(obj, ("spec", "volumeClaimTemplates")) or []:
        if not _dig(claim, ("spec", "resources", "requests", "storage")):
            yield "pvc-storage", "volumeClaimTemplate %s without resources.requests.storage" % _dig(claim, ("metadata", "name"))
    if kind in POD_TEMPLATE_PATHS:
        pod = _dig(obj, POD_TEMPLATE_PATHS[kind])
        if isinstance(pod, dict):
            yield from _check_pod(obj, pod)
            yield from _check_ml(obj, pod)


def _hosts(route):
    return [host for r in _dig(route, ("spec", "routes")) or [] for host in HOST.findall(r.get("match", ""))]


def _middlewares(route):
    return [m for r in _dig(route, ("spec", "routes")) or [] for m in r.get("middlewares") or []]


def _check_routes(objects):
    """IngressRoute triplets and TLS, across the objects of one file."""
    routes = [o for o in objects if o.get("kind") == "IngressRoute"]
    certificates = [o for o in objects if o.get("kind") == "Certificate"]
    middlewares = {(_dig(o, ("metadata", "namespace")), _dig(o, ("metadata", "name")))
                   for o in objects if o.get("kind") == "Middleware"}
    for route in routes:
        namespace = _dig(route, ("metadata", "namespace"))
        entry = _dig(route, ("spec", "entryPoints")) or []
        if "web" in entry:
            redirect = [m for m in _middlewares(route) if m.get("name") == REDIRECT_MIDDLEWARE]
            if not redirect:
                yield route, "tls", "IngressRoute on entryPoint web serves plain HTTP: add the %s middleware" % REDIRECT_MIDDLEWARE
            elif any(m.get("namespace") != namespace for m in redirect):
                yield route, "ingressroute-triplet", "the %s middleware reference must name namespace %r" % (
                    REDIRECT_MIDDLEWARE, namespace)
            elif (namespace, REDIRECT_MIDDLEWARE) not in middlewares:
                yield route, "ingressroute-triplet", "no %s Middleware in namespace %r in this file" % (
                    REDIRECT_MIDDLEWARE, namespace)
        if "websecure" not in entry:
            continue
        secret = _dig(route, ("spec", "tls", "secretName"))
        if not secret:
            yield route, "tls", "HTTPS IngressRoute without tls.secretName"
        for host in _hosts(route):
            cert = [c for c in certificates if _dig(c, ("metadata", "namespace")) == namespace
                    and host in (_dig(c, ("spec", "dnsNames")) or []) and _dig(c, ("spec", "secretName")) == secret]
            if not cert:
                yield route, "ingressroute-triplet", "no Certificate for %s (secret %s) in this file" % (host, secret)
            elif _dig(cert[0], ("spec", "issuerRef", "name")) != CLUSTER_ISSUER:
                yield cert[0], "tls", "Certificate not issued by ClusterIssuer %s" % CLUSTER_ISSUER
            redirect = [r for r in routes if _dig(r, ("metadata", "namespace")) == namespace
                        and "web" in (_dig(r, ("spec", "entryPoints")) or []) and host in _hosts(r)]
            if not redirect:
                yield route, "ingressroute-triplet", "no HTTP->HTTPS redirect IngressRoute (entryPoint web) for %s" % host


def parse_requirements(text):
    """The requirements catalogue (docs/requirements.md) as {id: set of epic numbers}."""
    catalogue = {}
    for row in CATALOGUE_ROW.finditer(text or ""):
        catalogue[row.group("id")] = {int(epic) for epic in row.group("epics").split(",")}
    return catalogue


def check_traceability(header, catalogue):
    """Every FR/NFR id the header (a HEADER match) cites is in the catalogue and belongs to an epic its
    Epic line names."""
    epics = {int(number) for number in re.findall(r"(?:^|; )(\d+) - ", header.group("epics"))}
    found = []
    for cited in CITED.finditer(header.group(0)):
        ident = cited.group("id")
        if ident not in catalogue:
            found.append("%s is not in the requirements catalogue (docs/requirements.md): add it there or cite "
                         "one that is" % ident)
        elif not catalogue[ident] & epics:
            found.append("%s belongs to epic %s (docs/requirements.md), but the header's Epic line names %s" % (
                ident, ", ".join(str(e) for e in sorted(catalogue[ident])), ", ".join(str(e) for e in sorted(epics))))
    return found


def check_header(text, objects, catalogue=None):
    """Seed 002's comment header block; its Namespace line names the file's namespace and, given the
    requirements catalogue ({id: epics}, parse_requirements), its FR/NFR ids trace to it."""
    match = HEADER.match(text)
    if not match:
        return ["the file does not start with the seed 002 header block "
                "(# {App} {Type} for home-lab / Namespace / Story / Epic / FRs / NFRs)"]
    found = check_traceability(match, catalogue) if catalogue is not None else []
    namespaces = {_dig(o, ("metadata", "namespace")) for o in objects if o.get("kind") not in CLUSTER_SCOPED}
    namespaces.discard(None)
    if namespaces and namespaces != {match.group("namespace")}:
        found.append("header says Namespace: %s but the objects are in %s" % (
            match.group("namespace"), ", ".join(sorted(namespaces))))
    return found


def check_objects(objects, source="<objects>", namespaces=None):
    """Violations of seed 002 by these objects (as one file groups them)."""
    namespaces = SEED_NAMESPACES if namespaces is None else namespaces
    found = []
    for obj in objects:
        if not isinstance(obj, dict):
            found.append(Violation(source, "?", "labels", "not a Kubernetes object: %r" % (obj,)))
            continue
        found.extend(Violation(source, _ident(obj), rule, msg) for rule, msg in _check_object(obj, namespaces))
    found.extend(Violation(source, _ident(obj), rule, msg) for obj, rule, msg in _check_routes(
        [o for o in objects if isinstance(o, dict)]))
    return found


def check_file(text, source="<manifest>", namespaces=None, catalogue=None):
    """Violations of seed 002 by one rendered manifest file (header included; its FR/NFR ids against the
    requirements catalogue when one is given)."""
    try:
        objects = load_objects(text)
    except yaml.YAMLError as exc:
        return [Violation(source, "-", "header", "not valid YAML: %s" % exc)]
    found = [Violation(source, "-", "header", msg) for msg in check_header(text, objects, catalogue)]
    return found + check_objects(objects, source, namespaces)

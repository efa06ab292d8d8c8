"""STAND-IN for the Kubernetes API that K3s serves on port 6443, for the container lab only.

Part of the k3s stand-in (tests/standins/k3s): the real k3s binary cannot be downloaded
on the machines that run our tests. Each lab server answers the API from the cluster's
REAL etcd, where K3s with embedded etcd keeps it: every object under /registry/..., its
resourceVersion the etcd revision that wrote it. So all servers answer one state, a write
needs etcd's quorum, and a snapshot restore brings the objects back, as with K3s.

Which resources exist (discovery) comes from the recording of a K3s cluster that kmock
(PyPI, the emulator our integration tests use) ships, plus K3s's own CRDs and every
CustomResourceDefinition stored in the cluster.

What it answers, as the kube-apiserver documents it (kubernetes.io/docs/reference/using-api):
discovery (/api, /apis, /version, /healthz); get, list (labelSelector, fieldSelector), watch,
create (generateName, dryRun), update (PUT, resourceVersion conflicts), patch (JSON merge,
strategic merge for built-in kinds, JSON patch), delete (finalizers: deletionTimestamp first),
the status and scale subresources, pods/eviction, Namespaces (a namespaced object needs its
Namespace; deleting a Namespace deletes what is in it), server-rendered Tables for `kubectl get`
(nodes, pods, deployments; name and age otherwise). Request bodies are JSON; kubectl's protobuf
Evictions and DeleteOptions are accepted for what their URL says.
Authentication: a client certificate the cluster's client CA signed, or a ServiceAccount's bearer token
that a kubernetes.io/service-account-token Secret holds while its ServiceAccount exists (the check the
kube-apiserver makes of such a legacy token after its signature; the lab's token controller issues opaque
tokens and signs nothing).
CustomResourceDefinitions are refused as the apiextensions-apiserver refuses them (crd_causes); custom
resources are stored as sent (not validated against their CRD's schema, not pruned).
Not answered: server-side apply, admission (quotas, PodDisruptionBudgets), defaulting beyond
replicas, openapi, authorization (every authenticated client may do everything).
Controllers are not part of the API server (see lab_controller.py).
"""
import base64
import copy
import datetime
import gzip
import http.client
import http.server
import json
import re
import ssl
import threading
import time
import urllib.parse
import uuid

# Custom resources K3s itself installs (k3s-io/k3s pkg/crd): they exist before any chart.
K3S_CRDS = [
    {"groupVersion": "helm.cattle.io/v1", "resources": [
        {"name": "helmcharts", "kind": "HelmChart", "namespaced": True, "subresources": ["status"]},
        {"name": "helmchartconfigs", "kind": "HelmChartConfig", "namespaced": True}]},
    {"groupVersion": "k3s.cattle.io/v1", "resources": [
        {"name": "addons", "kind": "Addon", "namespaced": True},
        {"name": "etcdsnapshotfiles", "kind": "ETCDSnapshotFile", "namespaced": False, "subresources": ["status"]}]},
]
K3S_CRD_RESOURCES = {(doc["groupVersion"].partition("/")[0], info["name"]) for doc in K3S_CRDS for info in doc["resources"]}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CRD_PREFIX = "/registry/apiextensions.k8s.io/customresourcedefinitions/"
# Built-in resources the kube-apiserver stores under another name (pkg/registry/*/storage), and the groups
# whose objects it keeps under /registry/<group>/.
STORAGE_NAMES = {("", "nodes"): "minions", ("", "services"): "services/specs", ("", "endpoints"): "services/endpoints"}
GROUP_PREFIXED = {"apiextensions.k8s.io", "apiregistration.k8s.io"}
INITIAL_STATUS = {
    "replicasets": {"replicas": 0},
    "statefulsets": {"replicas": 0, "availableReplicas": 0},
    "daemonsets": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0},
}
WATCH_LIMIT = 60.0  # seconds; the real apiserver also ends watches (min-request-timeout), clients re-watch
# Strategic merge patch: the merge key of lists of objects, by field name (k8s.io/api patchMergeKey tags).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name", "conditions": "type",
    "hostAliases": "ip", "volumeDevices": "devicePath", "taints": "key", "addresses": "type",
}


class APIError(Exception):
    """A Kubernetes Status answer."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


# What the kube-apiserver refuses with 422 Invalid, in its words (k8s.io/apimachinery pkg/util/validation:
# IsDNS1123Label, IsDNS1035Label, IsDNS1123Subdomain, IsValidPortNum; pkg/apis/core/validation ValidateService;
# rbac validation ValidateRBACName = path segment names), for the kinds whose rule the lab knows.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_RULES = {
    "namespaces": ("label", "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                            "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
    "services": ("dns1035", "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                            "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                            "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
}
SUBDOMAIN_KINDS = ("configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims", "pods", "deployments",
                   "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs", "nodes", "storageclasses",
                   "networkpolicies", "ingresses", "persistentvolumes", "runtimeclasses")
SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
RBAC_KINDS = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")


REQUIRED = object()  # a cause that is a missing value ("Required value"), not an invalid one


def crd_causes(crd):
    """What the apiextensions-apiserver refuses of a v1 CustomResourceDefinition (k8s.io/apiextensions-apiserver
    pkg/apis/apiextensions/validation/validation.go, the rules our charts could break): the name is
    <plural>.<group>; a known scope; exactly one storage version; a schema for every version; a scale
    subresource names its replica paths."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = str((crd.get("metadata") or {}).get("name") or "")
    causes = []
    if name != "%s.%s" % (names.get("plural"), spec.get("group")):
        causes.append(("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", spec.get("scope"), 'supported values: "Cluster", "Namespaced"'))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(("spec.names.%s" % field, REQUIRED, "Required value"))
    versions = spec.get("versions") or []
    if len([v for v in versions if v.get("storage")]) != 1:
        causes.append(("spec.versions", versions and [v.get("name") for v in versions],
                       "must have exactly one version marked as storage version"))
    for index, version in enumerate(versions):
        where = "spec.versions[%d]" % index
        if not ((version.get("schema") or {}).get("openAPIV3Schema")):
            causes.append(("%s.schema.openAPIV3Schema" % where, REQUIRED, "Required value: schemas are required"))
        scale = (version.get("subresources") or {}).get("scale")
        if scale is not None:
            for path in ("specReplicasPath", "statusReplicasPath"):
                if not scale.get(path):
                    causes.append(("%s.subresources.scale.%s" % (where, path), REQUIRED, "Required value"))
    return causes


def invalid(res, obj):
    """The 422 Invalid the kube-apiserver answers for this object's name or Service ports, or None."""
    name = str((obj.get("metadata") or {}).get("name") or "")
    causes = []
    if res.group in ("", "apps", "batch", "storage.k8s.io", "networking.k8s.io", "node.k8s.io",
                     "rbac.authorization.k8s.io"):
        rule, message = NAME_RULES.get(res.plural, (None, None))
        if rule == "label" and (len(name) > 63 or not DNS1123_LABEL.match(name)):
            causes.append(("metadata.name", name, message if len(name) <= 63 else "must be no more than 63 characters"))
        elif rule == "dns1035" and (len(name) > 63 or not DNS1035_LABEL.match(name)):
            causes.append(("metadata.name", name, message if len(name) <= 63 else "must be no more than 63 characters"))
        elif res.plural in SUBDOMAIN_KINDS and (len(name) > 253 or not DNS1123_SUBDOMAIN.match(name)):
            causes.append(("metadata.name", name, SUBDOMAIN_MESSAGE if len(name) <= 253
                           else "must be no more than 253 characters"))
        elif res.plural in RBAC_KINDS and (name in (".", "..") or "/" in name or "%" in name):
            causes.append(("metadata.name", name, "may not contain '/' or '%' and may not be '.' or '..'"))
    if res.group == "" and res.plural == "services":
        for index, port in enumerate(((obj.get("spec") or {}).get("ports")) or []):
            for field in ("port", "nodePort"):
                value = port.get(field)
                if value is not None and not (isinstance(value, int) and 1 <= value <= 65535) and \
                        not (field == "nodePort" and value == 0):
                    causes.append(("spec.ports[%d].%s" % (index, field), value, "must be between 1 and 65535, inclusive"))
            target = port.get("targetPort")
            if isinstance(target, int) and not 1 <= target <= 65535:
                causes.append(("spec.ports[%d].targetPort" % index, target, "must be between 1 and 65535, inclusive"))
            elif isinstance(target, str) and (len(target) > 15 or not IANA_SVC_NAME.match(target)):
                causes.append(("spec.ports[%d].targetPort" % index, target,
                               "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15"))
    if res.group == "apiextensions.k8s.io" and res.plural == "customresourcedefinitions":
        causes.extend(crd_causes(obj))
    if not causes:
        return None
    text = ", ".join("%s: %s" % (field, why) if value is REQUIRED else
                     "%s: Invalid value: %s: %s" % (field, json.dumps(value), why) for field, value, why in causes)
    return APIError(422, "Invalid", '%s "%s" is invalid: %s' % (res.kind, name, text),
                    {"name": name, "group": res.group, "kind": res.plural,
                     "causes": [{"reason": "FieldValueRequired", "message": w, "field": f} if v is REQUIRED else
                                {"reason": "FieldValueInvalid", "message": "Invalid value: %s: %s" % (json.dumps(v), w),
                                 "field": f} for f, v, w in causes]})


def not_found(res, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (res.qualified, name),
                    {"name": name, "group": res.group, "kind": res.plural})


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- etcd (its v3 JSON gateway, the client certificate K3s's apiserver uses) ----------------

class EtcdUnavailable(Exception):
    pass


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def prefix_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Etcd:
    """etcd's JSON gateway. `codec`, when given, transforms stored values as the kube-apiserver's
    encryption at rest does: encode(key, bytes) before a write, decode(key, bytes) after a read,
    stale(key, bytes) when a value is not stored the way a write would store it now."""

    def __init__(self, endpoint, ca=None, cert=None, key=None, timeout=10.0, codec=None):
        self.codec = codec
        parsed = urllib.parse.urlsplit(endpoint)
        self.host, self.port, self.tls = parsed.hostname, parsed.port or 2379, parsed.scheme == "https"
        self.timeout = timeout
        self.context = None
        if self.tls:
            self.context = ssl.create_default_context(cafile=ca)
            self.context.check_hostname = False
            self.context.load_cert_chain(cert, key)
        self._local = threading.local()

    def connect(self, timeout=None):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout or self.timeout,
                                               context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)

    def call(self, path, body):
        for attempt in (1, 2):  # a kept-alive connection the server closed: one fresh try
            conn = getattr(self._local, "conn", None) or self.connect()
            self._local.conn = conn
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = json.loads(resp.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise EtcdUnavailable("etcd: %s" % exc) from exc
                continue
            if resp.status != 200:
                raise EtcdUnavailable("etcd: %s" % (data.get("error") or data.get("message") or resp.status))
            return data
        raise EtcdUnavailable("etcd: no answer")

    def _kv(self, entry):
        raw = base64.b64decode(entry["value"])
        if self.codec is not None:
            raw = self.codec.decode(base64.b64decode(entry["key"]).decode(), raw)
        return json.loads(raw), int(entry["mod_revision"])

    def _value(self, key, obj):
        raw = json.dumps(obj).encode()
        return base64.b64encode(self.codec.encode(key, raw) if self.codec is not None else raw).decode()

    def stale(self, key):
        """True when `key`'s stored value is not what a write would store now (a key rotation)."""
        if self.codec is None:
            return False
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs") or []
        return bool(kvs) and self.codec.stale(key, base64.b64decode(kvs[0]["value"]))

    def get(self, key):
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs") or []
        return self._kv(kvs[0]) if kvs else (None, 0)

    def list(self, prefix):
        data = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return [self._kv(kv) for kv in data.get("kvs") or []], int(data["header"]["revision"])

    def keys(self, prefix):
        """[(key, mod_revision)] under `prefix`, values left out."""
        data = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix)), "keys_only": True})
        return [(kv["key"], kv["mod_revision"]) for kv in data.get("kvs") or []]

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("/registry/"), "limit": 1, "keys_only": True})
                   ["header"]["revision"])

    def _txn(self, key, target, expected, success):
        field = "create_revision" if target == "CREATE" else "mod_revision"
        data = self.call("/v3/kv/txn", {
            "compare": [{"key": b64(key), "target": target, field: str(expected), "result": "EQUAL"}],
            "success": [success]})
        return int(data["header"]["revision"]) if data.get("succeeded") else None

    def create(self, key, obj):
        """The new revision, or None when the key exists."""
        return self._txn(key, "CREATE", 0, {"request_put": {"key": b64(key), "value": self._value(key, obj)}})

    def update(self, key, obj, revision):
        """The new revision, or None when the key changed since `revision` (or is gone)."""
        return self._txn(key, "MOD", revision, {"request_put": {"key": b64(key), "value": self._value(key, obj)}})

    def delete(self, key, revision):
        return self._txn(key, "MOD", revision, {"request_delete_range": {"key": b64(key)}})

    def watch(self, prefix, start, deadline):
        """Yields (type, object, revision) from `start` on, until `deadline` (time.monotonic()).
        Raises LookupError(compact_revision) when `start` was compacted away."""
        conn = self.connect(timeout=max(1.0, deadline - time.monotonic()))
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), lambda: conn.sock and conn.sock.shutdown(2))
        try:
            conn.request("POST", "/v3/watch", json.dumps({"create_request": {
                "key": b64(prefix), "range_end": b64(prefix_end(prefix)), "start_revision": str(start),
                "prev_kv": True}}), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            timer.start()
            while True:
                try:
                    line = resp.readline()
                except (OSError, ValueError, http.client.HTTPException):
                    return
                if not line:
                    return
                result = json.loads(line).get("result") or {}
                if int(result.get("compact_revision") or 0):
                    raise LookupError(int(result["compact_revision"]))
                for event in result.get("events") or []:
                    if event.get("type") == "DELETE":
                        prev = event.get("prev_kv")
                        if prev:
                            obj, _rev = self._kv(prev)
                            yield "DELETED", obj, int(event["kv"]["mod_revision"])
                        continue
                    obj, rev = self._kv(event["kv"])
                    kind = "ADDED" if event["kv"].get("create_revision") == event["kv"]["mod_revision"] else "MODIFIED"
                    yield kind, obj, rev
        finally:
            timer.cancel()
            conn.close()


# --- resources --------------------------------------------------------------------------

class Resource:
    def __init__(self, group, version, info):
        self.group, self.version, self.plural = group, version, info["name"]
        self.kind = info["kind"]
        self.namespaced = bool(info.get("namespaced"))
        self.verbs = info.get("verbs") or VERBS
        self.subresources = set(info.get("subresources") or ())
        self.short_names = info.get("shortNames") or []
        self.singular = info.get("singularName") or self.kind.lower()
        self.custom = False

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def prefix(self, namespace=None):
        """The kube-apiserver's etcd layout: a built-in resource under /registry/<resource>/ (a few under their
        historic names), a custom resource and the aggregation groups under /registry/<group>/<resource>/."""
        if self.custom or (self.group, self.plural) in K3S_CRD_RESOURCES or self.group in GROUP_PREFIXED:
            base = "/registry/%s/%s/" % (self.group, self.plural)
        else:
            base = "/registry/%s/" % STORAGE_NAMES.get((self.group, self.plural), self.plural)
        return base + ("%s/" % namespace if namespace else "")

    def key(self, namespace, name):
        return self.prefix(namespace if self.namespaced else None) + name

    def discovery(self):
        entries = [{"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                    "kind": self.kind, "verbs": self.verbs, "shortNames": self.short_names}]
        for sub in sorted(self.subresources):
            entries.append({"name": "%s/%s" % (self.plural, sub), "singularName": "", "namespaced": self.namespaced,
                            "kind": {"scale": "Scale", "eviction": "Eviction"}.get(sub, self.kind),
                            "verbs": ["create"] if sub == "eviction" else ["get", "patch", "update"]})
        return entries


def load_discovery(documents):
    """{(group, version, plural): Resource} from APIResourceList documents (kmock's recording)."""
    resources = {}
    for doc in documents:
        group, _sep, version = doc["groupVersion"].rpartition("/")
        subs = {}
        for info in doc["resources"]:
            base, _sep, sub = info["name"].partition("/")
            if sub:
                subs.setdefault(base, set()).add(sub)
        for info in doc["resources"]:
            if "/" in info["name"]:
                continue
            info = dict(info)
            info["subresources"] = set(info.get("subresources") or ()) | subs.get(info["name"], set())
            resources[(group, version, info["name"])] = Resource(group, version, info)
    return resources


def crd_resources(crd):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    found = {}
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        info = {"name": names.get("plural"), "kind": names.get("kind"), "namespaced": spec.get("scope") == "Namespaced",
                "shortNames": names.get("shortNames") or [], "singularName": names.get("singular"),
                "subresources": [sub for sub in (ver.get("subresources") or {}) if sub in ("status", "scale")]}
        if info["name"] and info["kind"]:
            res = Resource(spec.get("group", ""), ver["name"], info)
            res.custom = True
            found[(res.group, res.version, res.plural)] = res
    return found


# --- selectors and patches -----------------------------------------------------------------

SELECTOR_TERM = re.compile(r"\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def split_selector(text):
    terms, depth, current = [], 0, ""
    for char in text or "":
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def parse_selector(text):
    parsed = []
    for term in split_selector(text):
        match = SELECTOR_TERM.match(term)
        if not match:
            raise APIError(400, "BadRequest", "unable to parse requirement: %r" % term)
        neg, key, op, value, set_op, values = match.groups()
        if set_op:
            parsed.append((key, set_op, {v.strip() for v in values.split(",") if v.strip()}))
        elif op:
            parsed.append((key, "!=" if op == "!=" else "=", value))
        else:
            parsed.append((key, "!exists" if neg else "exists", None))
    return parsed


def matches(selector, values):
    for key, op, want in selector:
        have = values.get(key)
        if (op == "=" and have != want) or (op == "!=" and have == want) or \
                (op == "exists" and have is None) or (op == "!exists" and have is not None) or \
                (op == "in" and have not in want) or (op == "notin" and have in want):
            return False
    return True


def field_values(obj):
    """The fields a fieldSelector may name: metadata.name/namespace and any scalar under spec/status."""
    values = {}

    def walk(prefix, node):
        for key, val in (node or {}).items():
            if isinstance(val, dict):
                walk(prefix + key + ".", val)
            elif not isinstance(val, list):
                values[prefix + key] = val if isinstance(val, str) else json.dumps(val)
    walk("", {k: obj.get(k) for k in ("metadata", "spec", "status") if isinstance(obj.get(k), dict)})
    return values


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target, patch, field=None):
    """Strategic merge patch for built-in kinds: lists of objects with a merge key are merged by it,
    `$patch: replace|delete` and `$deleteFromPrimitiveList/` directives are honoured, other `$` keys
    (order hints) ignored."""
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if key is None and field == "ports":
            key = "containerPort" if any("containerPort" in (p or {}) for p in patch + (target or [])) else "port"
        if not key or not isinstance(target, list) or not all(isinstance(p, dict) for p in patch):
            return [strip_directives(item) for item in patch]
        result = [copy.deepcopy(item) for item in target]
        for item in patch:
            if item.get("$patch") == "replace":
                return [strip_directives(i) for i in patch if i.get("$patch") != "replace"]
            index = next((n for n, cur in enumerate(result) if cur.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    result.pop(index)
            elif index is None:
                result.append(strip_directives(item))
            else:
                result[index] = strategic_merge(result[index], item)
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return strip_directives(patch)
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        else:
            merged = strategic_merge(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def strip_directives(value):
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def json_patch(target, ops):
    import jsonpatch  # python3-jsonpatch in the lab image

    try:
        return jsonpatch.apply_patch(target, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise APIError(422, "Invalid", "the JSON patch could not be applied: %s" % exc) from exc


# --- the API --------------------------------------------------------------------------------

class LabAPI:
    def __init__(self, etcd, discovery_documents, version):
        self.etcd = etcd
        self.builtin = load_discovery(list(discovery_documents) + K3S_CRDS)
        self.version = version
        # The resources of the CRDs last read. The real apiserver serves its CRDs from memory (an informer), so a
        # moment without etcd makes their requests fail with 503 (etcd), not 404 (no such resource).
        self.crd_resources = {}
        self.crd_stamp = None

    # discovery
    def resources(self):
        """Built-in resources and those of the stored CRDs. The CRDs are read again only when one of them changed
        (their keys' revisions, values left out), as the kube-apiserver's CRD informer keeps them in memory."""
        try:
            stamp = self.etcd.keys(CRD_PREFIX)
            if stamp != self.crd_stamp:
                crds, _rev = self.etcd.list(CRD_PREFIX)
                found = {}
                for crd, _rev in crds:
                    found.update(crd_resources(crd))
                self.crd_resources, self.crd_stamp = found, stamp  # request threads see the old set or the new one
        except EtcdUnavailable:
            pass
        return {**self.builtin, **self.crd_resources}

    def groups(self):
        groups = {}
        for (group, version, _plural) in self.resources():
            if group:
                versions = groups.setdefault(group, [])
                if version not in versions:
                    versions.append(version)
        return groups

    def version_info(self):
        match = re.match(r"v(\d+)\.(\d+)", self.version)
        major, minor = match.groups() if match else ("1", "0")
        return {"major": major, "minor": minor, "gitVersion": self.version, "gitTreeState": "clean",
                "goVersion": "standin", "compiler": "gc", "platform": "linux/amd64"}

    def discovery(self, parts):
        if parts == ["version"]:
            return self.version_info()
        if parts in (["healthz"], ["readyz"], ["livez"]):
            self.etcd.revision()  # unhealthy without etcd, as K3s's apiserver
            return "ok"
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self.group_doc(g, v) for g, v in sorted(self.groups().items())]}
        if len(parts) == 2 and parts[0] == "apis":
            versions = self.groups().get(parts[1])
            if not versions:
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            return dict(self.group_doc(parts[1], versions), kind="APIGroup", apiVersion="v1")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        found = [r for (g, v, _p), r in sorted(self.resources().items()) if g == group and v == version]
        if not found:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": found[0].api_version,
                "resources": [entry for res in found for entry in res.discovery()]}

    @staticmethod
    def group_doc(group, versions):
        preferred = {"groupVersion": "%s/%s" % (group, versions[0]), "version": versions[0]}
        return {"name": group, "versions": [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions],
                "preferredVersion": preferred}

    def route(self, path):
        """(resource, namespace, name, subresource), or None for discovery paths."""
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        if not parts or parts[0] not in ("api", "apis") or len(parts) < (3 if parts[0] == "api" else 4):
            return parts, None
        group, version, rest = ("", parts[1], parts[2:]) if parts[0] == "api" else (parts[1], parts[2], parts[3:])
        resources = self.resources()
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in resources:
            namespace, rest = rest[1], rest[2:]
        res = resources.get((group, version, rest[0]))
        if res is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in res.subresources:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if res.namespaced and name is not None and namespace is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        return parts, (res, namespace, name, sub)

    # objects
    def stored(self, res, obj, revision):
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        return obj

    def read(self, res, namespace, name):
        obj, rev = self.etcd.get(res.key(namespace, name))
        if obj is None:
            raise not_found(res, name)
        return obj, rev

    def list(self, res, namespace, query):
        items, revision = self.etcd.list(res.prefix(namespace if res.namespaced else None))
        labels = parse_selector(query.get("labelSelector"))
        fields = parse_selector(query.get("fieldSelector"))
        out = [self.stored(res, obj, rev) for obj, rev in items if self.selected(obj, labels, fields)]
        return {"kind": res.kind + "List", "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(revision)}, "items": out}

    @staticmethod
    def selected(obj, labels, fields):
        meta = obj.get("metadata") or {}
        return matches(labels, meta.get("labels") or {}) and (not fields or matches(fields, field_values(obj)))

    def watch(self, res, namespace, query):
        """Kubernetes watch events (dicts), ending with the watch or its timeout."""
        labels = parse_selector(query.get("labelSelector"))
        fields = parse_selector(query.get("fieldSelector"))
        limit = min(float(query.get("timeoutSeconds") or WATCH_LIMIT), WATCH_LIMIT * 10)
        deadline = time.monotonic() + limit
        start = int(query.get("resourceVersion") or 0)
        prefix = res.prefix(namespace if res.namespaced else None)
        if start == 0:
            listing = self.list(res, namespace, query)
            for item in listing["items"]:
                yield {"type": "ADDED", "object": item}
            start = int(listing["metadata"]["resourceVersion"])
        try:
            for kind, obj, rev in self.etcd.watch(prefix, start + 1, deadline):
                if self.selected(obj, labels, fields):
                    yield {"type": kind, "object": self.stored(res, obj, rev)}
        except LookupError as exc:
            yield {"type": "ERROR", "object": APIError(
                410, "Expired", "too old resource version: %d (%s)" % (start, exc.args[0])).status()}

    def namespace_exists(self, namespace):
        ns = self.builtin[("", "v1", "namespaces")]
        obj, _rev = self.etcd.get(ns.key(None, namespace))
        return obj is not None and not (obj.get("metadata") or {}).get("deletionTimestamp")

    def create(self, res, namespace, body, dry_run=False):
        if not isinstance(body, dict):
            raise APIError(400, "BadRequest", "the body of the request is not an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise APIError(400, "BadRequest", "the namespace of the provided object does not match "
                                                  "the namespace sent on the request")
            meta["namespace"] = namespace
            if not self.namespace_exists(namespace):
                raise APIError(404, "NotFound", 'namespaces "%s" not found' % namespace,
                               {"name": namespace, "kind": "namespaces"})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise APIError(422, "Invalid", "%s is invalid: metadata.name: Required value" % res.kind)
        refusal = invalid(res, obj)
        if refusal is not None:
            raise refusal
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        self.defaults(res, obj, None)
        if dry_run:
            return self.stored(res, obj, 0), 201
        rev = self.etcd.create(res.key(namespace, meta["name"]), obj)
        if rev is None:
            raise APIError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, meta["name"]),
                           {"name": meta["name"], "group": res.group, "kind": res.plural})
        return self.stored(res, obj, rev), 201

    def defaults(self, res, obj, old):
        """What the apiserver sets itself: status owned by its subresource, generation, a few defaults."""
        if "status" in res.subresources or res.plural == "namespaces":
            if old is None:
                # Go's API types always serialize their fields without omitempty, so a new object shows them.
                obj["status"] = copy.deepcopy(INITIAL_STATUS.get(res.plural, {}))
                if res.plural == "namespaces":
                    obj["status"] = {"phase": "Active"}
                elif res.plural == "pods":
                    obj["status"] = {"phase": "Pending"}
            else:
                obj["status"] = copy.deepcopy(old.get("status")) if old.get("status") is not None else None
                if obj["status"] is None:
                    obj.pop("status")
        if res.plural == "namespaces":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if res.plural in ("deployments", "statefulsets", "replicasets") and isinstance(obj.get("spec"), dict):
            if obj["spec"].get("replicas") is None:
                obj["spec"]["replicas"] = 1
        if "status" in res.subresources:
            meta = obj["metadata"]
            if old is None:
                meta["generation"] = 1
            else:
                changed = {k: v for k, v in obj.items() if k not in ("metadata", "status")} != \
                    {k: v for k, v in old.items() if k not in ("metadata", "status")}
                meta["generation"] = int((old.get("metadata") or {}).get("generation") or 1) + (1 if changed else 0)

    def change(self, res, namespace, name, sub, compute, dry_run=False, expect=None):
        """Read, compute the new object, write if unchanged since the read (else retry)."""
        for _attempt in range(20):
            old, rev = self.read(res, namespace, name)
            if expect is not None and str(expect) != str(rev):
                raise APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                                                "modified; please apply your changes to the latest version and "
                                                "try again" % (res.qualified, name))
            new = compute(copy.deepcopy(old))
            if not isinstance(new, dict):
                raise APIError(400, "BadRequest", "the result is not an object")
            meta = new.setdefault("metadata", {})
            for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
                if (old.get("metadata") or {}).get(field) is not None:
                    meta[field] = old["metadata"][field]
                else:
                    meta.pop(field, None)
            meta.pop("resourceVersion", None)
            if sub == "status":
                kept = copy.deepcopy(old)
                if new.get("status") is None:
                    kept.pop("status", None)
                else:
                    kept["status"] = new["status"]
                new = kept
            else:
                self.defaults(res, new, old)
                refusal = invalid(res, new)
                if refusal is not None:
                    raise refusal
            if dry_run or (new == old and not self.etcd.stale(res.key(namespace, name))):
                return self.stored(res, new, rev), 200
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                if self.etcd.delete(res.key(namespace, name), rev) is not None:
                    return self.stored(res, new, rev), 200
                continue
            new_rev = self.etcd.update(res.key(namespace, name), new, rev)
            if new_rev is not None:
                return self.stored(res, new, new_rev), 200
            if expect is not None:
                expect = -1  # the conflict message on the next round
        raise APIError(409, "Conflict", "too many concurrent writers on %s %s" % (res.qualified, name))

    def patch(self, res, namespace, name, sub, body, content_type, dry_run=False):
        ctype = (content_type or "").split(";")[0].strip()
        if ctype == "application/json-patch+json":
            def compute(old):
                return json_patch(old, body)
        elif ctype == "application/merge-patch+json":
            def compute(old):
                return merge_patch(old, body)
        elif ctype == "application/strategic-merge-patch+json":
            if res.custom or (res.group, res.plural) in K3S_CRD_RESOURCES:
                raise APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")

            def compute(old):
                return strategic_merge(old, body)
        else:
            raise APIError(415, "UnsupportedMediaType", "the lab's API stand-in does not accept %s (server-side "
                           "apply is not emulated)" % ctype)
        if sub == "scale":
            replicas = ((body or {}).get("spec") or {}).get("replicas") if isinstance(body, dict) else None
            return self.scale(res, namespace, name, replicas, dry_run)
        return self.change(res, namespace, name, sub, compute, dry_run)

    def replace(self, res, namespace, name, sub, body, dry_run=False):
        if not isinstance(body, dict):
            raise APIError(400, "BadRequest", "the body of the request is not an object")
        if sub == "scale":
            return self.scale(res, namespace, name, (body.get("spec") or {}).get("replicas"), dry_run)
        expect = (body.get("metadata") or {}).get("resourceVersion")
        return self.change(res, namespace, name, sub, lambda old: copy.deepcopy(body), dry_run, expect)

    def scale(self, res, namespace, name, replicas, dry_run):
        if replicas is not None:
            def compute(old):
                old.setdefault("spec", {})["replicas"] = int(replicas)
                return old
            obj, _code = self.change(res, namespace, name, None, compute, dry_run)
        else:
            obj, _rev = self.read(res, namespace, name)
        fields = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: obj["metadata"][k] for k in fields if obj["metadata"].get(k)},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}, 200

    def delete(self, res, namespace, name, dry_run=False):
        for _attempt in range(20):
            obj, rev = self.read(res, namespace, name)
            meta = obj.setdefault("metadata", {})
            if res.plural == "namespaces" and not dry_run:
                self.delete_namespace_contents(name)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp") or dry_run:
                    return self.stored(res, obj, rev), 200
                meta["deletionTimestamp"] = now()
                meta["deletionGracePeriodSeconds"] = 0
                new_rev = self.etcd.update(res.key(namespace, name), obj, rev)
                if new_rev is not None:
                    return self.stored(res, obj, new_rev), 202
                continue
            if dry_run or self.etcd.delete(res.key(namespace, name), rev) is not None:
                return self.stored(res, obj, rev), 200
        raise APIError(409, "Conflict", "too many concurrent writers on %s %s" % (res.qualified, name))

    def delete_namespace_contents(self, namespace):
        """The namespace controller's work, done at once: everything in the Namespace goes."""
        for res in self.resources().values():
            if not res.namespaced:
                continue
            items, _rev = self.etcd.list(res.prefix(namespace))
            for obj, rev in items:
                self.etcd.delete(res.key(namespace, obj["metadata"]["name"]), rev)

    def token_user(self, token):
        """The ServiceAccount a bearer token authenticates ("system:serviceaccount:<ns>:<name>"), or None."""
        if not token:
            return None
        wanted = b64(token)
        secrets, _rev = self.etcd.list(self.builtin[("", "v1", "secrets")].prefix())
        for secret, _rev in secrets:
            annotations = (secret.get("metadata") or {}).get("annotations") or {}
            account = annotations.get("kubernetes.io/service-account.name")
            if secret.get("type") != "kubernetes.io/service-account-token" or not account:
                continue
            if (secret.get("data") or {}).get("token") != wanted:
                continue
            namespace = secret["metadata"]["namespace"]
            found, _rev = self.etcd.get(self.builtin[("", "v1", "serviceaccounts")].key(namespace, account))
            if found is not None and annotations.get("kubernetes.io/service-account.uid") in (
                    None, (found.get("metadata") or {}).get("uid")):
                return "system:serviceaccount:%s:%s" % (namespace, account)
        return None

    def evict(self, res, namespace, name):
        if res.plural != "pods":
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        self.read(res, namespace, name)
        self.delete(res, namespace, name)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201

    def handle(self, method, path, query, body, content_type, accept=""):
        """(code, body) or (code, iterator of watch events); a Table (kubectl get) when `accept` asks."""
        parts, target = self.route(path)
        if target is None:
            if method != "GET":
                raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return 200, self.discovery(parts)
        res, namespace, name, sub = target
        dry_run = query.get("dryRun") == "All"
        if method == "GET":
            if name is None:
                if query.get("watch") in ("1", "true"):
                    return 200, self.watch(res, namespace, query)
                listing = self.list(res, namespace, query)
                return 200, table(res, listing["items"], listing["metadata"]) if "as=Table" in accept else listing
            if sub == "scale":
                obj, code = self.scale(res, namespace, name, None, False)
                return code, obj
            obj, rev = self.read(res, namespace, name)
            obj = self.stored(res, obj, rev)
            return 200, table(res, [obj], {"resourceVersion": str(rev)}) if "as=Table" in accept else obj
        if method == "POST":
            if sub == "eviction":
                obj, code = self.evict(res, namespace, name)
                return code, obj
            if name is not None:
                raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            obj, code = self.create(res, namespace, body, dry_run)
            return code, obj
        if name is None:
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if method == "PUT":
            obj, code = self.replace(res, namespace, name, sub, body, dry_run)
        elif method == "PATCH":
            obj, code = self.patch(res, namespace, name, sub, body, content_type, dry_run)
        elif method == "DELETE":
            obj, code = self.delete(res, namespace, name, dry_run)
        else:
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        return code, obj


# --- Tables (what `kubectl get` shows, rendered by the server as the kube-apiserver does) ---------------

def age(created, at=None):
    """k8s.io/apimachinery duration.HumanDuration of the time from `created` to `at` (now)."""
    try:
        then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = max(0, int(((at or datetime.datetime.now(datetime.timezone.utc)) - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return "%ds" % seconds
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 192:
        return "%dd%dh" % (days, hours % 24) if hours % 24 else "%dd" % days
    return "%dd" % days


def node_row(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    st = obj.get("status") or {}
    ready = [c.get("status") for c in st.get("conditions") or [] if c.get("type") == "Ready"]
    state = "Ready" if ready == ["True"] else "NotReady" if ready else "Unknown"
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
    info = st.get("nodeInfo") or {}
    internal = [a["address"] for a in st.get("addresses") or [] if a.get("type") == "InternalIP"] or ["<none>"]
    return [state, ",".join(roles), age(obj["metadata"].get("creationTimestamp")), info.get("kubeletVersion", ""),
            internal[0], "<none>", info.get("osImage", ""), info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", "")]


def pod_row(obj):
    st = obj.get("status") or {}
    containers = (obj.get("spec") or {}).get("containers") or []
    ready = sum(1 for c in st.get("containerStatuses") or [] if c.get("ready"))
    phase = st.get("phase", "Pending")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    elif phase == "Succeeded":
        phase = "Completed"
    return ["%d/%d" % (ready, len(containers)), phase, "0", age(obj["metadata"].get("creationTimestamp")),
            st.get("podIP", "<none>"), (obj.get("spec") or {}).get("nodeName", "<none>")]


def deployment_row(obj):
    st, want = obj.get("status") or {}, (obj.get("spec") or {}).get("replicas", 1)
    return ["%d/%d" % (st.get("readyReplicas", 0), want), st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0), age(obj["metadata"].get("creationTimestamp"))]


TABLES = {
    "nodes": (["Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*", "Kernel-Version*",
               "Container-Runtime*"], node_row),
    "pods": (["Ready", "Status", "Restarts", "Age", "IP*", "Node*"], pod_row),
    "deployments": (["Ready", "Up-to-date", "Available", "Age"], deployment_row),
}


def table(res, items, list_meta):
    """meta.k8s.io/v1 Table: a name column, then the kind's columns (* marks -o wide ones)."""
    columns, row = TABLES.get(res.plural, (["Age"], lambda obj: [age(obj["metadata"].get("creationTimestamp"))]))
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    for column in columns:
        definitions.append({"name": column.rstrip("*"), "type": "string", "format": "", "description": "",
                            "priority": 1 if column.endswith("*") else 0})
    rows = [{"cells": [obj["metadata"]["name"]] + row(obj),
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}}
            for obj in items]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": definitions,
            "rows": rows}


# --- HTTP ------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 over TLS. `server.api` answers the API; `server.extra(handler)` may answer first
    (K3s's supervisor paths share the port); the API needs a client certificate signed by the client CA
    or a ServiceAccount's token (LabAPI.token_user)."""

    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm the body waits for the client's
    # delayed ACK (40 ms a request). Go's net package, hence K3s's apiserver, sets TCP_NODELAY by default.
    disable_nagle_algorithm = True

    def setup(self):
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):  # quiet: the journal gets k3s-style lines only
        return

    def reply(self, code, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def client_certificate(self):
        try:
            return self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None

    def dispatch(self):
        if self.server.extra is not None and self.server.extra(self):
            return
        if self.server.api is None:
            # No Kubernetes API behind this port: hang up, so a client reports it unreachable.
            self.body()
            self.close_connection = True
            return
        raw = self.body()
        scheme, _sep, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            allowed = self.client_certificate() or (
                scheme.lower() == "bearer" and self.server.api.token_user(token.strip()) is not None)
        except EtcdUnavailable as exc:
            return self.reply(503, APIError(503, "ServiceUnavailable", str(exc)).status())
        if not allowed:
            return self.reply(401, APIError(401, "Unauthorized", "Unauthorized").status())
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
            # kubectl sends protobuf Evictions and DeleteOptions: the URL says all the stand-in needs.
            if self.command == "DELETE" or split.path.endswith("/eviction"):
                raw = b""
        if raw and payload is None:
            return self.reply(415, APIError(415, "UnsupportedMediaType", "the lab's API stand-in reads JSON bodies "
                                            "only, not %s" % self.headers.get("Content-Type")).status())
        try:
            code, answer = self.server.api.handle(self.command, split.path, query, payload,
                                                  self.headers.get("Content-Type"), self.headers.get("Accept") or "")
        except APIError as exc:
            return self.reply(exc.code, exc.status())
        except EtcdUnavailable as exc:
            return self.reply(503, APIError(503, "ServiceUnavailable", str(exc)).status())
        if isinstance(answer, (dict, list)):
            return self.reply(code, answer)
        if isinstance(answer, str):
            return self.reply(code, answer.encode(), "text/plain")
        return self.stream(answer)

    def stream(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, EtcdUnavailable):
            return

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch  # noqa: N815 (http.server's naming)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, context, api=None, extra=None):
        super().__init__(address, Handler)
        self.api, self.extra, self.context = api, extra, context

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(300)
        # The handshake happens in the request's thread (Handler.setup), never in the accepting one.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):  # a client that went away is not news
        return


def tls_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def serve(address, context, api=None, extra=None):
    httpd = Server(address, context, api, extra)
    threading.Thread(target=httpd.serve_forever, name="apiserver", daemon=True).start()
    return httpd


def load_documents(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)

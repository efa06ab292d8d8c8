# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a role's Kubernetes objects in one go: the logic of the k8s_apply module, without Ansible.

For each object, in order: find its API (discovery of its group version, read fresh on every run, so no cache
from an earlier cluster at the same URL can lie), read it, create it when it is missing, leave it alone when it
already holds every field the definition sets, else patch it (strategic merge for the kinds that take it, JSON merge
for custom resources) and report `changed` from the object before and after the patch (kubernetes.core's
comparison: fields the server defaults or normalises do not count as a change). An object whose API a chart
installs waits until the API is served; an admission webhook that refuses because its pods are not ready yet is
retried; any other refusal fails at once, naming the object. Secret data never appears in the result or the diff.

`Api` is the REST layer over the official client's ApiClient; `apply` takes any object with its four methods, so
the unit tests give it a plain fake.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import time
from urllib.parse import quote, urlsplit

from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError, is_subset
from ansible_collections.homelab.platform.plugins.module_utils.manifests import load_objects

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
# Fields the server owns: never part of a definition's comparison (nor is `status`, which controllers write).
SERVER_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink")
HIDDEN = "<hidden>"


class ApiError(K8sError):
    """A refusal of the API server: `status` and the server's own message."""

    def __init__(self, status, reason, message):
        super().__init__("%s %s: %s" % (status, reason, message), {"status": status, "reason": reason})
        self.status = status
        self.message = message


class Api:
    """GET/POST/PATCH of any object by path, with the credentials of an ApiClient built by k8s_client.api_client.

    The generated client's call_api changed its signature across releases (Debian 12 ships 22.6, PyPI 37); its
    REST layer takes the same keyword arguments in both, so requests go through it. DirectApi sends the same
    requests over http.client, without the official client."""

    def __init__(self, api_client, timeout=30):
        self._client = api_client
        self._timeout = timeout

    @property
    def host(self):
        return self._client.configuration.host

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        """The decoded JSON answer; None for 404 on a GET; ApiError for any other refusal."""
        from urllib.parse import urlencode

        headers = {"Accept": "application/json", "Content-Type": content_type}
        status, data = self._exchange(method, path + ("?" + urlencode(query) if query else ""), headers, body)
        return self._answer(method, status, data)

    def _unreachable(self, exc):
        return K8sError("cannot reach the Kubernetes API at %s: %s" % (self.host, exc), {"host": self.host})

    def _exchange(self, method, path, headers, body):
        """(status, body) of one request through the official client's REST layer."""
        from kubernetes.client.exceptions import ApiException

        conf = self._client.configuration
        for auth in conf.auth_settings().values():  # a bearer token, refreshed by the kubeconfig's hook if it has one
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        try:
            resp = self._client.rest_client.request(method, conf.host.rstrip("/") + path, headers=headers, body=body,
                                                    _request_timeout=self._timeout)
            return resp.status, resp.data if getattr(resp, "data", None) is not None else resp.read()
        except ApiException as exc:  # clients before 30 raise on any status outside 2xx
            if not exc.status:
                raise self._unreachable(exc.reason) from exc
            return exc.status, exc.body
        except Exception as exc:  # urllib3's connection errors and timeouts
            raise self._unreachable(exc) from exc

    @staticmethod
    def _answer(method, status, data):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"message": text}
        if 200 <= status < 300:
            return answer
        if status == 404 and method == "GET":
            return None
        message = answer.get("message", text) if isinstance(answer, dict) else text
        raise ApiError(status, answer.get("reason", "") if isinstance(answer, dict) else "", message)


class DirectApi(Api):
    """Api over http.client with a k8s_client.Connection: one kept-alive connection for the run's requests."""

    def __init__(self, connection, timeout=30):  # pylint: disable=super-init-not-called
        self._connection = connection
        self._url = urlsplit(connection.host)
        self._timeout = timeout
        self._http = None

    @property
    def host(self):
        return self._connection.host

    def _exchange(self, method, path, headers, body):
        url = self._url
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = dict(headers, **self._connection.headers)
        while True:  # a kept-alive connection the server has closed is opened again, once
            reused = self._http is not None
            if not reused:
                self._http = (http.client.HTTPSConnection(url.netloc, timeout=self._timeout,
                                                          context=self._connection.ssl_context)
                              if url.scheme == "https" else http.client.HTTPConnection(url.netloc, timeout=self._timeout))
            try:
                self._http.request(method, url.path.rstrip("/") + path, body=payload, headers=headers)
                resp = self._http.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, TLS refused, closed
                self._http.close()
                self._http = None
                if not (reused and isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected))):
                    raise self._unreachable(exc) from exc


class Discovery:
    """Which resource serves a kind, per group version, read from the server once per run (again while waiting)."""

    def __init__(self, api):
        self._api = api
        self._versions = {}

    def find(self, api_version, kind, refresh=False):
        """(plural, namespaced), or None when the server does not serve that kind in that group version."""
        if refresh or api_version not in self._versions:
            path = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
            listing = self._api.request("GET", path) or {}
            self._versions[api_version] = {r["kind"]: (r["name"], r.get("namespaced", False))
                                           for r in listing.get("resources", []) if "/" not in r.get("name", "")}
        return self._versions[api_version].get(kind)


def object_path(api_version, plural, namespaced, namespace, name=None):
    base = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
    if namespaced:
        base += "/namespaces/%s" % namespace
    return base + "/" + plural + ("/" + name if name else "")


def describe(obj):
    meta = obj.get("metadata") or {}
    return "%s %s%s" % (obj.get("kind"), (meta.get("namespace") + "/") if meta.get("namespace") else "", meta.get("name"))


def comparable(obj):
    """The object without what the server and controllers alone write (status, resourceVersion, managedFields ...)."""
    obj = copy.deepcopy(obj or {})
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for key in SERVER_METADATA:
        meta.pop(key, None)
    return obj


def as_stored(definition):
    """The definition as the server stores it: a Secret's stringData becomes base64 data."""
    if definition.get("kind") != "Secret" or not definition.get("stringData"):
        return definition
    stored = copy.deepcopy(definition)
    data = stored.setdefault("data", {})
    for key, value in stored.pop("stringData").items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    return stored


def redacted(before, after):
    """before and after with every value of a Secret hidden; a value that changed says so, no more."""
    if (after or {}).get("kind") != "Secret":
        return before, after
    before, after = copy.deepcopy(before), copy.deepcopy(after)
    for field in ("data", "stringData"):
        old, new = (before or {}).get(field), after.get(field)
        if isinstance(old, dict):
            before[field] = {key: HIDDEN for key in old}
        if isinstance(new, dict):
            after[field] = {key: HIDDEN if (old or {}).get(key) == value else HIDDEN + " (changed)"
                            for key, value in new.items()}
    return before, after


def secret_object(spec):
    """The Secret a `secrets` entry describes (stringData, type Opaque unless given)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": spec.get("type") or "Opaque",
            "metadata": {key: spec[key] for key in ("name", "namespace", "labels") if spec.get(key)},
            "stringData": {key: str(value) for key, value in (spec.get("string_data") or {}).items()}}


class Applier:
    """One run of apply(): the discovery it read, the deadline of its waits, what it did."""

    def __init__(self, api, check_mode=False, await_apis=(), api_timeout=120, api_delay=5,
                 clock=time.monotonic, sleep=time.sleep):
        self.api = api
        self.discovery = Discovery(api)
        self.check_mode = check_mode
        self.awaited = {(a["api_version"], a["kind"]) for a in await_apis}
        self.api_timeout = api_timeout
        self.api_delay = api_delay
        self.clock = clock
        self.sleep = sleep
        self.patch_types = {}  # resource path prefix -> the patch type it accepts
        self.results = []
        self.diffs = []

    def retrying(self, what, call, retry_on):
        """call() until it succeeds; an error retry_on() accepts is tried again every api_delay s up to api_timeout."""
        deadline = self.clock() + self.api_timeout
        while True:
            try:
                return call()
            except ApiError as exc:
                if not retry_on(exc):
                    raise
                if self.clock() >= deadline:
                    raise ApiError(exc.status, exc.details.get("reason", ""), "still refused after %d s (%s): %s"
                                   % (self.api_timeout, what, exc.message)) from exc
            self.sleep(self.api_delay)

    def resource(self, obj):
        """(plural, namespaced) of the object's resource; None only in check mode, for an awaited API not served."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind or not (obj.get("metadata") or {}).get("name"):
            raise K8sError("every object needs apiVersion, kind and metadata.name: %s" % describe(obj), {"invalid": True})
        found = self.discovery.find(api_version, kind)
        if found is None and (api_version, kind) in self.awaited:
            if self.check_mode:  # the chart that installs it is not installed either: nothing to wait for
                return None
            deadline = self.clock() + self.api_timeout
            while found is None and self.clock() < deadline:
                self.sleep(self.api_delay)
                found = self.discovery.find(api_version, kind, refresh=True)
            if found is None:
                raise K8sError("%s %s not served after %d s: the chart that installs it has not finished "
                               "(kubectl get helmchart,job,pods -A); re-run the playbook once it has"
                               % (api_version, kind, self.api_timeout), {"api_version": api_version, "kind": kind})
        if found is None:
            raise K8sError("the Kubernetes API at %s serves no %s in %s (%s): is its CRD installed?"
                           % (self.api.host, kind, api_version, describe(obj)), {"api_version": api_version, "kind": kind})
        return found

    def record(self, obj, action, before=None, after=None):
        meta = obj.get("metadata") or {}
        self.results.append({"kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
                             "action": action})
        if action in ("created", "patched"):
            shown_before, shown_after = redacted(comparable(before) if before else {}, comparable(after))
            self.diffs.append({"before_header": describe(obj), "after_header": describe(obj),
                               "before": shown_before, "after": shown_after})

    def patch(self, path, prefix, body, what):
        query = {"dryRun": "All"} if self.check_mode else None
        kind = self.patch_types.get(prefix, STRATEGIC)
        try:
            return self.retrying(what, lambda: self.api.request("PATCH", path, body, query, kind), is_webhook_refusal)
        except ApiError as exc:
            if exc.status != 415 or kind != STRATEGIC:
                raise
        self.patch_types[prefix] = MERGE  # custom resources take no strategic merge patch
        return self.retrying(what, lambda: self.api.request("PATCH", path, body, query, MERGE), is_webhook_refusal)

    def apply(self, obj):
        """apply_one(obj); a refusal of the server names the object."""
        try:
            return self.apply_one(obj)
        except ApiError as exc:
            raise K8sError("Kubernetes API refused to apply %s: %s" % (describe(obj), exc), exc.details) from exc

    def patch_owned(self, spec):
        """patch_existing(spec); a refusal of the server names the object."""
        try:
            return self.patch_existing(spec)
        except ApiError as exc:
            raise K8sError("Kubernetes API refused to patch %s %s: %s" % (spec["kind"], spec["name"], exc),
                           exc.details) from exc

    def apply_one(self, obj):
        found = self.resource(obj)
        if found is None:  # check mode, an API a chart will install: the object would be created then
            return self.record(obj, "created", None, obj)
        plural, namespaced = found
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        if namespaced and not namespace:
            raise K8sError("%s is namespaced: give metadata.namespace" % describe(obj), {"invalid": True})
        prefix = object_path(obj["apiVersion"], plural, namespaced, namespace)
        path = prefix + "/" + meta["name"]
        what = "apply %s" % describe(obj)
        existing = self.api.request("GET", path)
        if existing is None:
            if self.check_mode:  # its namespace may not exist yet either: nothing to ask the server
                return self.record(obj, "created", None, obj)
            created = self.retrying(what, lambda: self.api.request("POST", prefix, obj), is_webhook_refusal)
            return self.record(obj, "created", None, created)
        wanted = comparable(obj)
        if is_subset(as_stored(wanted), existing) or is_subset(wanted, existing):  # emulators may keep stringData
            return self.record(obj, "unchanged")
        patched = self.patch(path, prefix, obj, what)
        if comparable(patched) == comparable(existing):
            return self.record(obj, "unchanged")
        return self.record(obj, "patched", existing, patched)

    def patch_existing(self, spec):
        """A merge patch of an object the cluster owns, only if it exists (K3s's packaged objects)."""
        obj = {"apiVersion": spec.get("api_version") or "v1", "kind": spec["kind"],
               "metadata": {key: spec[key] for key in ("name", "namespace") if spec.get(key)}}
        found = self.resource(obj)
        if found is None:  # check mode, an API a chart will install: no object of it exists yet
            return self.record(obj, "absent")
        plural, namespaced = found
        path = object_path(obj["apiVersion"], plural, namespaced, spec.get("namespace"), spec["name"])
        existing = self.api.request("GET", path)
        if existing is None:
            return self.record(obj, "absent")
        if is_subset(spec["patch"], existing):
            return self.record(obj, "unchanged")
        query = {"dryRun": "All"} if self.check_mode else None
        patched = self.api.request("PATCH", path, spec["patch"], query, MERGE)
        if comparable(patched) == comparable(existing):
            return self.record(obj, "unchanged")
        return self.record(obj, "patched", existing, patched)


def is_webhook_refusal(exc):
    """An admission webhook that cannot be called yet (cert-manager's and MetalLB's, until their pods are ready)."""
    return "webhook" in exc.message


def ordered(objects, secrets):
    """Namespaces first, then the Secrets, then the other objects in the order given."""
    namespaces = [o for o in objects if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"]
    return namespaces + [secret_object(s) for s in secrets] + [o for o in objects if o not in namespaces]


def manifest_objects(manifests):
    """The objects of rendered manifest files (multi-document YAML texts), in order; a K8sError names a text that
    is not valid YAML, before anything is applied."""
    objects = []
    for index, text in enumerate(manifests):
        try:
            objects.extend(load_objects(text))
        except Exception as exc:  # yaml.YAMLError; PyYAML may be missing from this module's imports
            raise K8sError("manifests[%d] is not valid YAML: %s" % (index, exc), {"invalid": True}) from exc
    return objects


def apply(api, objects, secrets=(), patches=(), check_mode=False, await_apis=(), api_timeout=120, api_delay=5,
          wait=False, wait_timeout=300, clock=time.monotonic, sleep=time.sleep, manifests=()):
    """Apply `objects` and the objects of the YAML texts `manifests` after them (and the Secrets `secrets`
    describe), then `patches`; return changed, objects, diff.

    A K8sError says what failed; what was applied before it stays applied and is listed in its details."""
    run = Applier(api, check_mode, await_apis, api_timeout, api_delay, clock, sleep)
    try:
        objects = list(objects) + manifest_objects(manifests)
        for obj in objects:
            if not isinstance(obj, dict):
                raise K8sError("an object to apply is not a mapping: %r" % (obj,), {"invalid": True})
        for obj in ordered(objects, list(secrets)):
            run.apply(obj)
        for spec in patches:
            run.patch_owned(spec)
        if wait and not check_mode:
            wait_ready(api, run, [o for o in objects if o.get("kind") in READY], wait_timeout, clock, sleep)
    except K8sError as exc:
        exc.details["objects"] = run.results
        exc.details["changed"] = any(r["action"] in ("created", "patched") for r in run.results)
        raise
    return {"changed": any(r["action"] in ("created", "patched") for r in run.results),
            "objects": run.results, "diff": run.diffs}


def deployment_ready(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= (obj.get("metadata") or {}).get("generation", 0)
            and status.get("updatedReplicas", 0) >= replicas and status.get("availableReplicas", 0) >= replicas
            and status.get("replicas", 0) == replicas)


def statefulset_ready(obj):
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    status = obj.get("status") or {}
    return status.get("readyReplicas", 0) >= replicas and status.get("updatedReplicas", replicas) >= replicas


def daemonset_ready(obj):
    status = obj.get("status") or {}
    return status.get("numberReady", 0) >= status.get("desiredNumberScheduled", 0) and \
        status.get("updatedNumberScheduled", 0) >= status.get("desiredNumberScheduled", 0)


# What "ready" means for the workloads that have a rollout to wait for.
READY = {"Deployment": deployment_ready, "StatefulSet": statefulset_ready, "DaemonSet": daemonset_ready}


def wait_ready(api, run, workloads, timeout, clock=time.monotonic, sleep=time.sleep, interval=2):
    """Until every workload is ready, or a K8sError naming those that are not after `timeout` seconds."""
    deadline = clock() + timeout
    pending = list(workloads)
    while pending:
        still = []
        for obj in pending:
            plural, namespaced = run.resource(obj)
            meta = obj["metadata"]
            current = api.request("GET", object_path(obj["apiVersion"], plural, namespaced, meta.get("namespace"),
                                                     meta["name"]))
            if current is None or not READY[obj["kind"]](current):
                still.append(obj)
        pending = still
        if pending and clock() >= deadline:
            raise K8sError("not ready after %d s: %s" % (timeout, ", ".join(describe(o) for o in pending)),
                           {"not_ready": [describe(o) for o in pending]})
        if pending:
            sleep(interval)


def field(obj, dotted):
    """The value at a dotted path of obj (`data.token`; a key that holds dots is written as it is: `data.ca.crt`),
    None where the path leads nowhere."""
    if not isinstance(obj, dict):
        return None
    if dotted in obj:
        return obj[dotted]
    parts = dotted.split(".")
    for cut in range(1, len(parts)):
        key = ".".join(parts[:cut])
        if key in obj:
            value = field(obj[key], ".".join(parts[cut:]))
            if value is not None:
                return value
    return None


def get_object(api, api_version, kind, name, namespace=None, wait_for=(), timeout=0, delay=2, clock=time.monotonic,
               sleep=time.sleep):
    """The object `kind` `name` (in `namespace` when namespaced), None when it does not exist. With `wait_for`
    (dotted paths such as `data.token`) it must exist and each path hold a non-empty value: read again every `delay`
    seconds up to `timeout`, then a K8sError names what is still missing. A kind the server does not serve is
    waited for the same way (a chart's CRD), then fails."""
    deadline = clock() + timeout
    while True:
        found = Discovery(api).find(api_version, kind)
        obj = api.request("GET", object_path(api_version, found[0], found[1], namespace, quote(name, safe=""))) \
            if found else None
        missing = [path for path in wait_for if obj is not None and field(obj, path) in (None, "", {}, [])]
        if found and not missing and (obj is not None or not wait_for):
            return obj
        if clock() >= deadline:
            after = " after %ds" % timeout if timeout else ""
            where = "%s %s%s" % (kind, namespace + "/" if namespace and found[1] else "", name) if found else ""
            if not found:
                raise K8sError("the cluster does not serve %s in %s%s" % (kind, api_version, after))
            if obj is None:
                raise K8sError("%s does not exist%s" % (where, after))
            raise K8sError("%s: %s still empty%s" % (where, ", ".join(missing), after))
        sleep(delay)

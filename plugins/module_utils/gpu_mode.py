# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu-mode: one GPU shared between ML inference (vLLM) and gaming.

The same core serves the Ansible module (homelab.platform.gpu_mode) and the
`gpu-mode` command on the GPU worker. It talks to Kubernetes through a small
adapter (KubernetesApi below, or anything with the same methods), so the
decisions are tested with plain data and the waiting with an emulated API.

Modes are data: a mode name maps to the Deployment it applies. `gaming` is
built in (the Deployment scaled to 0); `status` only reads.
"""

from __future__ import annotations

import copy
import itertools
import time

from .k8s_client import K8sError, is_subset, merge_patch
from .k8s_client import call as k8s_call

MODE_LABEL = "gpu-mode"
GAMING = "gaming"
STATUS = "status"
ABSENT = "absent"
VRAM_ANNOTATION = "gpu-mode.homelab.platform/vram-mib"
DEFAULT_NAMESPACE = "ml"
DEFAULT_DEPLOYMENT = "vllm-server"


class GpuModeError(Exception):
    """A switch that cannot be done or did not finish; `details` says what was seen."""

    def __init__(self, message, details=None, exit_code=1):
        super().__init__(message)
        self.details = details or {}
        self.exit_code = exit_code


class GpuModeTimeout(GpuModeError):
    """Waiting ran out of time; the Deployment is left as applied and the label says so."""


# Exit codes of the gpu-mode command, for scripts.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_API = 4
EXIT_VRAM = 5


def selector_of(deployment):
    labels = (((deployment or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return dict(labels) or {"app": (deployment or {}).get("metadata", {}).get("name", DEFAULT_DEPLOYMENT)}


def matches(labels, selector):
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def validate_modes(modes, deployment, namespace):
    """Each serving mode is a Deployment named `deployment` in `namespace`, labelled gpu-mode=<mode>."""
    if not isinstance(modes, dict) or not modes:
        raise GpuModeError("modes must be a dict of mode name -> Deployment definition", exit_code=EXIT_USAGE)
    for name, body in modes.items():
        where = "mode %r" % name
        if name in (GAMING, STATUS, ABSENT):
            raise GpuModeError("%s: %r is built in and cannot be redefined" % (where, name), exit_code=EXIT_USAGE)
        if not isinstance(body, dict) or body.get("kind") != "Deployment":
            raise GpuModeError("%s: expected a Deployment definition" % where, exit_code=EXIT_USAGE)
        meta = body.get("metadata") or {}
        if meta.get("name") != deployment:
            raise GpuModeError("%s: Deployment is named %r, expected %r" % (where, meta.get("name"), deployment),
                               exit_code=EXIT_USAGE)
        if meta.get("namespace", namespace) != namespace:
            raise GpuModeError("%s: Deployment is in namespace %r, expected %r" % (where, meta.get("namespace"), namespace),
                               exit_code=EXIT_USAGE)
        if (meta.get("labels") or {}).get(MODE_LABEL) != name:
            raise GpuModeError("%s: metadata.labels.%s must be %r (it is how the mode is read back)" % (where, MODE_LABEL, name),
                               exit_code=EXIT_USAGE)
        template_labels = (((body.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if template_labels.get(MODE_LABEL) != name:
            raise GpuModeError("%s: spec.template.metadata.labels.%s must be %r (to tell its pods apart)" % (where, MODE_LABEL, name),
                               exit_code=EXIT_USAGE)
        if int((body.get("spec") or {}).get("replicas", 1)) < 1:
            raise GpuModeError("%s: a serving mode needs replicas >= 1" % where, exit_code=EXIT_USAGE)


def state_of(deployment):
    """Mode, replicas and readiness from a Deployment dict (None when it does not exist)."""
    if deployment is None:
        return {"mode": ABSENT, "label": None, "replicas": 0, "ready_replicas": 0, "exists": False}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    label = ((deployment.get("metadata") or {}).get("labels") or {}).get(MODE_LABEL)
    return {
        "mode": GAMING if replicas == 0 else (label or "unknown"),
        "label": label,
        "replicas": replicas,
        "ready_replicas": int(status.get("readyReplicas") or 0),
        "exists": True,
    }


def served_models(deployment):
    """The model names vLLM answers to, from its containers' command and args (`--served-model-name` takes
    several, else `--model`, else `vllm serve MODEL`); empty for no Deployment."""
    names = []
    containers = ((((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
    for container in containers or []:
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        served, model = [], None
        for index, word in enumerate(words):
            flag, eq, value = word.partition("=")
            if flag in ("--served-model-name", "--model"):
                # --flag=value, or the words up to the next option
                rest = words[index + 1:]
                following = [value] if eq else list(itertools.takewhile(lambda w: not w.startswith("-"), rest))
                if flag == "--served-model-name":
                    served.extend(following)
                elif following:
                    model = following[0]
            elif word == "serve" and index + 1 < len(words) and not words[index + 1].startswith("-"):
                model = model or words[index + 1]
        names.extend(served or ([model] if model else []))
    return names


def plan(current_deployment, mode, modes):
    """What switching to `mode` means: {'action': 'none'|'scale'|'apply', 'body': ..., 'before', 'after'}."""
    before = state_of(current_deployment)
    if mode == STATUS:
        return {"action": "none", "body": None, "before": before, "after": before}
    if mode == GAMING:
        if not before["exists"]:
            raise GpuModeError("Deployment not found: nothing runs vLLM (deploy the vllm role first, or switch to a "
                               "serving mode to create it)", exit_code=EXIT_FAILED)
        after = dict(before, mode=GAMING, replicas=0)
        if before["replicas"] == 0:
            return {"action": "none", "body": None, "before": before, "after": after}
        return {"action": "scale", "body": {"spec": {"replicas": 0}}, "before": before, "after": after}
    if mode not in modes:
        raise GpuModeError("unknown mode %r: known modes are %s" % (mode, ", ".join(sorted(list(modes) + [GAMING, STATUS]))),
                           exit_code=EXIT_USAGE)
    body = copy.deepcopy(modes[mode])
    want_replicas = int(body.get("spec", {}).get("replicas", 1))
    after = {"mode": mode, "label": mode, "replicas": want_replicas, "ready_replicas": want_replicas, "exists": True}
    if before["exists"] and is_subset(body.get("spec", {}), current_deployment.get("spec") or {}) \
            and is_subset(body.get("metadata", {}).get("labels", {}), current_deployment.get("metadata", {}).get("labels") or {}) \
            and before["replicas"] == want_replicas:
        return {"action": "none", "body": None, "before": before, "after": dict(after, ready_replicas=before["ready_replicas"])}
    return {"action": "apply", "body": body, "before": before, "after": after}


def vram_check(body, gpu, current_mode, vllm_process_names=("vllm", "python", "pt_main_thread")):
    """Fail before applying a mode whose declared VRAM need does not fit.

    gpu: one entry of nvidia_gpu_facts (memory_total_mib, memory_used_mib, processes).
    VRAM held by vLLM itself is counted as free when a serving mode is running
    (the Recreate strategy stops it first).
    """
    if not gpu:
        return None
    need = ((body.get("metadata") or {}).get("annotations") or {}).get(VRAM_ANNOTATION)
    if need is None:
        return None
    need = int(need)
    total = int(gpu.get("memory_total_mib") or 0)
    used = int(gpu.get("memory_used_mib") or 0)
    processes = gpu.get("processes") or []
    others = [p for p in processes if not any(n in str(p.get("name", "")).lower() for n in vllm_process_names)]
    if processes:
        used_by_others = sum(int(p.get("used_memory_mib") or 0) for p in others)
    else:
        used_by_others = 0 if current_mode not in (GAMING, ABSENT) else used
    free = total - used_by_others
    if need > free:
        holders = ", ".join("%s (pid %s, %s MiB)" % (p.get("name"), p.get("pid"), p.get("used_memory_mib")) for p in others)
        raise GpuModeError(
            "not enough GPU memory for this mode: it needs %d MiB, %d of %d MiB are free%s"
            % (need, free, total, (" (held by %s)" % holders) if holders else ""),
            details={"need_mib": need, "free_mib": free, "total_mib": total},
            exit_code=EXIT_VRAM,
        )
    return {"need_mib": need, "free_mib": free}


def pod_ready(pod):
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_summary(pods):
    return [
        {
            "name": p["metadata"]["name"],
            "mode": (p["metadata"].get("labels") or {}).get(MODE_LABEL),
            "phase": (p.get("status") or {}).get("phase", "Pending"),
            "ready": pod_ready(p),
            "terminating": bool(p["metadata"].get("deletionTimestamp")),
        }
        for p in sorted(pods.values(), key=lambda p: p["metadata"]["name"])
    ]


def goal_reached(pods, mode, replicas):
    """Gaming: no vLLM pod left. Serving: no pod of another mode left and `replicas` Ready pods of this one."""
    if mode == GAMING:
        return not pods
    others = [p for p in pods.values() if (p["metadata"].get("labels") or {}).get(MODE_LABEL) != mode]
    ready = [p for p in pods.values() if (p["metadata"].get("labels") or {}).get(MODE_LABEL) == mode and pod_ready(p)]
    return not others and len(ready) >= replicas


def observe(api, namespace, selector):
    """One list of the Deployment's pods: (pods by name, the list's resourceVersion)."""
    items, resource_version = api.list_pods(namespace)
    return {p["metadata"]["name"]: p for p in items if matches(p["metadata"].get("labels"), selector)}, resource_version


def ready_count(summary):
    """Ready pods in a pod_summary: how every result counts readiness (never the Deployment's status,
    which the controller updates later than the pods)."""
    return sum(1 for p in summary if p["ready"])


def wait_for(api, namespace, selector, mode, replicas, timeout, progress=None, clock=time.monotonic, slice_seconds=5.0):
    """Watch the deployment's pods until the goal is reached; GpuModeTimeout otherwise.

    A list, then the watch API from the list's resourceVersion: every pod event is
    evaluated as it arrives, so the wait ends as soon as the goal is reached (no
    polling period). An API server without usable resourceVersions (an emulator)
    gets a fresh list every `slice_seconds`, so a missed event cannot stall the wait.
    """
    start = clock()
    deadline = start + timeout
    pods = {}
    while True:
        pods, resource_version = observe(api, namespace, selector)
        if goal_reached(pods, mode, replicas):
            return clock() - start, pod_summary(pods)
        exact = bool(resource_version) and str(resource_version).isdigit()
        remaining = deadline - clock()
        if remaining <= 0:
            break
        window = remaining if exact else min(remaining, slice_seconds)
        for event_type, pod in api.watch_pods(namespace, window, resource_version if exact else None):
            meta = pod.get("metadata") or {}
            if event_type == "ERROR":
                break  # e.g. 410 Gone: list again
            if not matches(meta.get("labels"), selector):
                continue
            if event_type == "DELETED":
                pods.pop(meta["name"], None)
            else:
                pods[meta["name"]] = pod
            if progress:
                progress(clock() - start, pod_summary(pods))
            if goal_reached(pods, mode, replicas):
                return clock() - start, pod_summary(pods)
            if clock() >= deadline:
                break
        if clock() >= deadline:
            break
    summary = pod_summary(pods)
    events = []
    for pod in summary:
        events.extend(api.pod_events(namespace, pod["name"])[-3:])
    what = "no vLLM pod to be left" if mode == GAMING else "%d Ready pod(s) of mode %s" % (replicas, mode)
    seen = "; ".join("%s %s%s" % (p["name"], p["phase"], " terminating" if p["terminating"] else "") for p in summary) or "no pods"
    tail = ("; last events: " + " | ".join(events)) if events else ""
    raise GpuModeTimeout(
        "timed out after %ds waiting for %s; saw: %s%s" % (timeout, what, seen, tail),
        details={"pods": summary, "events": events},
        exit_code=EXIT_TIMEOUT,
    )


def switch(api, mode, modes, namespace=DEFAULT_NAMESPACE, deployment=DEFAULT_DEPLOYMENT, wait=True, timeout=300,
           check_mode=False, gpu=None, progress=None, clock=time.monotonic):
    """Switch the GPU to `mode` (or just read it for `status`). Returns the result dict."""
    start = clock()
    if modes or mode not in (GAMING, STATUS):
        validate_modes(modes, deployment, namespace)
    current = api.get_deployment(namespace, deployment)
    if mode == STATUS and current is None:
        raise GpuModeError("Deployment %s/%s not found (deploy the vllm role first)" % (namespace, deployment))
    todo = plan(current, mode, modes or {})
    before = todo["before"]
    result = {
        "changed": todo["action"] != "none",
        "previous_mode": before["mode"],
        "mode": todo["after"]["mode"],
        "replicas": todo["after"]["replicas"],
        "ready_replicas": 0,
        "diff": {
            "before": {"mode": before["mode"], "replicas": before["replicas"]},
            "after": {"mode": todo["after"]["mode"], "replicas": todo["after"]["replicas"]},
        },
        "pods": [],
        "duration_seconds": 0.0,
    }
    if todo["action"] == "apply":
        result["vram"] = vram_check(todo["body"], gpu, before["mode"])
    if check_mode or todo["action"] == "none":
        if current is not None:
            # The pods as they are now, read as the waiting path reads them (what a no-op, a check or
            # `status` reports).
            result["pods"] = pod_summary(observe(api, namespace, selector_of(current))[0])
            result["ready_replicas"] = ready_count(result["pods"])
        result["duration_seconds"] = round(clock() - start, 3)
        return result

    if todo["action"] == "scale":
        api.patch_deployment(namespace, deployment, todo["body"])
    elif current is None:
        api.create_deployment(namespace, todo["body"])
    else:
        api.patch_deployment(namespace, deployment, todo["body"])

    selector = selector_of(todo["body"] if todo["action"] == "apply" else current)
    if wait:
        _elapsed, result["pods"] = wait_for(api, namespace, selector, todo["after"]["mode"], todo["after"]["replicas"],
                                            timeout, progress=progress, clock=clock)
    else:
        result["pods"] = pod_summary(observe(api, namespace, selector)[0])
    result["ready_replicas"] = ready_count(result["pods"])
    result["duration_seconds"] = round(clock() - start, 3)
    return result


class ReadApi:
    """The reads a `status` (or a check) makes, the Deployment and its pods, over any object with k8s_apply's
    `request(method, path)` (k8s_apply.DirectApi: no official client to import and no models to build, about 2 s
    of a module run). A switch, which writes and watches, uses KubernetesApi."""

    def __init__(self, rest):
        self._rest = rest

    def _get(self, what, path):
        try:
            return self._rest.request("GET", path)
        except K8sError as exc:
            message = "Kubernetes API refused to %s: %s" % (what, exc) if exc.details.get("status") else str(exc)
            raise GpuModeError(message, exc.details, EXIT_API) from exc

    def get_deployment(self, namespace, name):
        return self._get("read the Deployment", "/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name))

    def list_pods(self, namespace):
        """(pod dicts, the list's resourceVersion)."""
        result = self._get("list pods", "/api/v1/namespaces/%s/pods" % namespace) or {}
        return result.get("items") or [], (result.get("metadata") or {}).get("resourceVersion")


class KubernetesApi:
    """The adapter over the official `kubernetes` client (CoreV1Api/AppsV1Api)."""

    def __init__(self, api_client):
        from kubernetes import client, watch  # imported here: the core itself needs no client

        self._client = api_client
        self._apps = client.AppsV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._watch = watch
        self._exceptions = client.exceptions

    def _dict(self, obj):
        return self._client.sanitize_for_serialization(obj)

    def _call(self, what, func, *args, **kwargs):
        """The client's call through the collection's Kubernetes layer (None when the object does not exist); its
        K8sError becomes the command's error with the exit code scripts read."""
        try:
            return k8s_call(what, func, *args, missing=True, host=self._client.configuration.host, **kwargs)
        except K8sError as exc:
            raise GpuModeError(str(exc), exc.details, EXIT_USAGE if exc.details.get("invalid") else EXIT_API) from exc

    def get_deployment(self, namespace, name):
        obj = self._call("read the Deployment", self._apps.read_namespaced_deployment, name, namespace)
        return self._dict(obj) if obj is not None else None

    def get_config_map(self, namespace, name):
        """The ConfigMap's data ({} when empty), None when it does not exist."""
        obj = self._call("read the ConfigMap %s/%s" % (namespace, name), self._core.read_namespaced_config_map,
                         name, namespace)
        return (self._dict(obj).get("data") or {}) if obj is not None else None

    def patch_deployment(self, namespace, name, body):
        return self._call("patch the Deployment", merge_patch, self._apps.patch_namespaced_deployment, name,
                          namespace, body)

    def create_deployment(self, namespace, body):
        return self._call("create the Deployment", self._apps.create_namespaced_deployment, namespace, body)

    def list_pods(self, namespace):
        """(pod dicts, the list's resourceVersion)."""
        result = self._call("list pods", self._core.list_namespaced_pod, namespace)
        if result is None:
            return [], None
        return [self._dict(p) for p in result.items], (result.metadata.resource_version if result.metadata else None)

    def watch_pods(self, namespace, timeout, resource_version=None):
        """Yield (type, pod dict) until the stream ends or `timeout` seconds pass."""
        import urllib3

        stream = self._watch.Watch()
        kwargs = {"resource_version": resource_version} if resource_version else {}
        try:
            for event in stream.stream(self._core.list_namespaced_pod, namespace, _request_timeout=max(timeout, 0.05),
                                       timeout_seconds=max(int(timeout), 1), **kwargs):
                obj = event["object"]
                yield event["type"], obj if isinstance(obj, dict) else self._dict(obj)
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            return
        except self._exceptions.ApiException as exc:
            raise GpuModeError("Kubernetes API refused to watch pods: %s %s" % (exc.status, exc.reason), exit_code=EXIT_API) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise GpuModeError("cannot reach the Kubernetes API to watch pods: %s" % exc, exit_code=EXIT_API) from exc
        finally:
            stream.stop()

    def pod_events(self, namespace, pod_name):
        try:
            result = self._core.list_namespaced_event(namespace)
        except Exception:  # events are a diagnostic extra; never mask the real error
            return []
        events = [self._dict(e) for e in result.items]
        events = [e for e in events if (e.get("involvedObject") or {}).get("name") == pod_name]
        return ["%s: %s" % (e.get("reason"), e.get("message")) for e in events]

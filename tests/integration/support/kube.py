"""An emulated Kubernetes API (kmock's KubernetesEmulator) for tests, plus
`FakeKubelet`, a test fixture that plays the Deployment controller and the
kubelet for one Deployment: it creates, readies and deletes pods as the
Deployment's replicas and pod template change, with configurable delays.

The emulator runs on its own event loop in a background thread, so the
synchronous `kubernetes` client (the real one) is never used on that loop.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import threading
import time

import kmock
import kubernetes


# Custom resources the collection's manifests use: resource -> (kind, namespaced).
CRDS = {
    "helm.cattle.io/v1/helmcharts": ("HelmChart", True),
    "traefik.io/v1alpha1/ingressroutes": ("IngressRoute", True),
    "traefik.io/v1alpha1/middlewares": ("Middleware", True),
    "cert-manager.io/v1/certificates": ("Certificate", True),
    "cert-manager.io/v1/clusterissuers": ("ClusterIssuer", False),
    "metallb.io/v1beta1/ipaddresspools": ("IPAddressPool", True),
    "metallb.io/v1beta1/l2advertisements": ("L2Advertisement", True),
}


class EmulatedCluster:
    def __init__(self, crds=None):
        self._crds = CRDS if crds is None else crds
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = None
        self.url = None
        self.emulator = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the Kubernetes emulator did not start")

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self):
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            emulator.resources.load_bundled()
            # CRDs the collection's manifests use (the bundled list has built-ins only).
            for key, (kind, namespaced) in self._crds.items():
                emulator.resources[key] = kmock.ResourceInfo(
                    kind=kind, namespaced=namespaced, singular=kind.lower(),
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete"})
            self.emulator = emulator
            self.url = "http://127.0.0.1:%d" % server.port
            self._ready.set()
            await self._stop.wait()

    def api_client(self):
        config = kubernetes.client.Configuration()
        config.host = self.url
        return kubernetes.client.ApiClient(config)

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def template_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class FakeKubelet:
    """Plays the Deployment controller (Recreate strategy) and the kubelet, through the API.

    ready_delay: seconds from pod creation to Ready (a model load).
    terminate_delay: seconds a deleted pod stays Terminating.
    never_ready: pods of these gpu-mode labels stay Pending (e.g. an image that never starts).
    """

    def __init__(self, cluster, namespace="ml", deployment="vllm-server", ready_delay=0.3, terminate_delay=0.2,
                 never_ready=(), period=0.05):
        self.namespace = namespace
        self.deployment = deployment
        self.ready_delay = ready_delay
        self.terminate_delay = terminate_delay
        self.never_ready = set(never_ready)
        self.period = period
        self.client = cluster.api_client()
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.timeline = []  # (monotonic time, what, pod name)
        self._created = {}
        self._deleting = {}
        self._counter = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-kubelet", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _pods(self):
        pods = self.core.list_namespaced_pod(self.namespace).items
        return [self.client.sanitize_for_serialization(p) for p in pods
                if (p.metadata.labels or {}).get("app") == self.deployment]

    def _deploy(self):
        try:
            return self.client.sanitize_for_serialization(
                self.apps.read_namespaced_deployment(self.deployment, self.namespace))
        except kubernetes.client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception as exc:  # keep playing; a test asserts on the outcome
                self.timeline.append((time.monotonic(), "error", repr(exc)))
            self._stop.wait(self.period)

    def reconcile(self):
        now = time.monotonic()
        deploy = self._deploy()
        pods = self._pods()
        # Finish terminations that are due.
        released = set()
        for pod in pods:
            name = pod["metadata"]["name"]
            if name in self._deleting and now >= self._deleting[name]:
                # The kubelet has stopped the containers: release the pod (the emulator then deletes it).
                # Times are taken before the API call, so overheads measured from them are upper bounds.
                stamp = time.monotonic()
                self.core.patch_namespaced_pod(name, self.namespace, {"metadata": {"finalizers": []}},
                                               _content_type="application/merge-patch+json")
                self._deleting.pop(name)
                released.add(name)
                self.timeline.append((stamp, "deleted", name))
        alive = [p for p in pods if p["metadata"]["name"] not in self._deleting and p["metadata"]["name"] not in released]
        if deploy is None:
            return
        spec = deploy.get("spec") or {}
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        template = spec.get("template") or {}
        want_hash = template_hash(template)
        stale = [p for p in alive if p["metadata"]["labels"].get("pod-template-hash") != want_hash]
        current = [p for p in alive if p["metadata"]["labels"].get("pod-template-hash") == want_hash]
        # Recreate: every old pod goes (and is gone) before a new one is created.
        for pod in stale + current[replicas:]:
            self._terminate(pod, now)
        if stale or self._deleting:
            self._status(deploy, 0)
            return
        while len(current) < replicas:
            current.append(self._create(template, want_hash))
        for pod in current:
            self._ready_if_due(pod, now)
        self._status(deploy, sum(1 for p in current if self._is_ready(p)))

    def _terminate(self, pod, now):
        name = pod["metadata"]["name"]
        if name in self._deleting:
            return
        self._deleting[name] = now + self.terminate_delay
        # Graceful deletion: the pod carries a finalizer, so it stays Terminating until released.
        self.core.delete_namespaced_pod(name, self.namespace)
        self.timeline.append((time.monotonic(), "terminating", name))

    def _create(self, template, want_hash):
        self._counter += 1
        meta = copy.deepcopy(template.get("metadata") or {})
        labels = dict(meta.get("labels") or {}, **{"pod-template-hash": want_hash})
        name = "%s-%s-%05d" % (self.deployment, want_hash[:6], self._counter)
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                         "finalizers": ["fake-kubelet.homelab.platform/terminating"]},
            "spec": copy.deepcopy(template.get("spec") or {"containers": [{"name": "main", "image": "x"}]}),
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
        }
        self.core.create_namespaced_pod(self.namespace, body)
        self._created[name] = time.monotonic()
        self.timeline.append((time.monotonic(), "created", name))
        return body

    @staticmethod
    def _is_ready(pod):
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])

    def _ready_if_due(self, pod, now):
        name = pod["metadata"]["name"]
        if self._is_ready(pod) or pod["metadata"]["labels"].get("gpu-mode") in self.never_ready:
            return
        if now - self._created.get(name, now) >= self.ready_delay:
            stamp = time.monotonic()
            self.core.patch_namespaced_pod(name, self.namespace, {"status": {
                "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
                _content_type="application/merge-patch+json")
            pod.setdefault("status", {})["conditions"] = [{"type": "Ready", "status": "True"}]
            self.timeline.append((stamp, "ready", name))

    def _status(self, deploy, ready):
        if int((deploy.get("status") or {}).get("readyReplicas") or 0) != ready:
            self.apps.patch_namespaced_deployment(self.deployment, self.namespace, {"status": {"readyReplicas": ready}},
                                                  _content_type="application/merge-patch+json")

    def events(self, what):
        return [(t, name) for t, kind, name in self.timeline if kind == what]

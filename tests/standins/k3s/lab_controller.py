"""STAND-IN for the parts of kube-controller-manager, kube-scheduler and the kubelet that the lab
needs, for the container lab only (part of the k3s stand-in, tests/standins/k3s).

Controllers (run by the server that holds the Lease kube-system/kube-controller-manager, as K3s's
servers elect one; through the server's own LabAPI, the same code path as HTTP clients):
- Deployment: one ReplicaSet per pod template (`pod-template-hash`); Recreate scales the old
  ones to 0 and waits until their Pods are gone before the new one gets replicas; RollingUpdate
  brings the new one up and the old ones down once the new Pods are Ready. Status: replicas,
  updatedReplicas, readyReplicas, availableReplicas, observedGeneration, Available.
- ReplicaSet, StatefulSet (ordinals, OrderedReady, highest ordinal first on scale-down and on a
  template change), DaemonSet (a Pod per eligible node), Job (Pods until `completions` succeeded,
  then Complete); garbage collection of what an owner that is gone owned.
- PersistentVolumeClaims are Bound at once (standing in for the provisioner; no volume exists).
- Scheduler: a Pod without a node goes to a Ready, schedulable (not cordoned) node that matches
  its nodeSelector and required node affinity, whose NoSchedule/NoExecute taints it tolerates and
  whose allocatable extended resources (e.g. nvidia.com/gpu) cover its requests; the least busy
  such node wins. Otherwise it stays Pending with PodScheduled=False (Unschedulable).
- Node lifecycle: Pods on a node that is not Ready get Ready=False.
- K3s's deploy controller: the objects of the manifests K3s packages (server/manifests: coredns,
  local-storage, metrics-server, traefik), created once unless the server's `disable` lists them
  (an object a user deleted comes back at the next server start, as with K3s; disabling one later does
  not remove what was deployed).
- K3s's helm-controller: a HelmChart gets its install Job `helm-install-<name>` (K3s's klipper-helm image,
  the chart's settings as its environment, `status.jobName`); a changed spec replaces the Job. When the
  Job completes, the chart is installed as `helm install`/`helm upgrade` would: the REAL helm renders the
  REAL chart archive (`helm template` with the HelmChart's valuesContent and set, its targetNamespace, the
  cluster's version and every API version it serves, hooks left out) from the lab's chart directory
  (LAB_HELM, LAB_CHARTS: the Makefile's helm and CHARTS_DIR, mounted into the lab servers), and every object
  is created or replaced through the API (CRDs first, with their real schemas), with helm's release
  annotations; a record of what was installed is kept in the release Secret
  `sh.helm.release.v1.<name>.v1` (the stand-in's own content, not helm's encoding). An upgrade deletes what
  the new render no longer has; a HelmChart that is gone has its release's objects deleted (helm uninstall).
  A chart the directory lacks installs nothing (logged, and the HelmChart's status says so). K3s's own
  packaged charts (traefik-crd, traefik) are not in that directory: for them only the CRDs recorded in
  chart-crds.json are registered.
- Token controller: a kubernetes.io/service-account-token Secret of an existing ServiceAccount gets
  `token` (opaque: the lab API accepts it while the Secret holds it, lab_apiserver.LabAPI.token_user),
  `ca.crt` (the cluster's server CA) and `namespace`, as kube-controller-manager fills it.
Kubelet (each node's stand-in, for the Pods bound to it): a Pod starts at once and is Running and
Ready; a Pod whose restartPolicy is Never or OnFailure runs to completion (Succeeded, exit 0).
No container runs: images, probes, volumes and commands are not executed.
"""
import copy
import datetime
import hashlib
import json
import pkgutil
import os
import secrets
import subprocess
import tempfile
import uuid

import yaml

from lab_apiserver import APIError, EtcdUnavailable, b64

LEASE = "kube-controller-manager"
LEASE_SECONDS = 15
RENEW_AFTER = 5
TERMINAL = ("Succeeded", "Failed")
HELM_IMAGE = "rancher/klipper-helm:v0.9.8-build20250709"  # the helm-controller's default job image
CONFIG_HASH = "helmcharts.helm.cattle.io/configHash"
# The real helm and the pinned chart archives, mounted into the lab servers (molecule/*/molecule.yml).
LAB_HELM = os.environ.get("LAB_HELM", "/usr/local/lib/homelab-lab/helm")
LAB_CHARTS = os.environ.get("LAB_CHARTS", "/usr/local/lib/homelab-lab/charts")
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
RELEASE_RECORD = "lab.homelab.platform/installed"  # the release Secret's key: the objects installed (JSON)
RELEASE_CHART = "lab.homelab.platform/helmchart"  # the release Secret's annotation: the HelmChart's namespace/name


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment=None):
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(moment=None):
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except (TypeError, ValueError):
            continue
    return None


def template_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def meta(obj):
    return obj.get("metadata") or {}


def spec(obj):
    return obj.get("spec") or {}


def status(obj):
    return obj.get("status") or {}


def condition(obj, kind):
    for cond in status(obj).get("conditions") or []:
        if cond.get("type") == kind:
            return cond.get("status")
    return None


def is_ready(pod):
    return condition(pod, "Ready") == "True" and not meta(pod).get("deletionTimestamp")


def alive(pod):
    return not meta(pod).get("deletionTimestamp") and status(pod).get("phase") not in TERMINAL


def owner_ref(owner):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta(owner)["name"],
            "uid": meta(owner)["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj, owner):
    return any(ref.get("uid") == meta(owner).get("uid") and ref.get("controller")
               for ref in meta(obj).get("ownerReferences") or [])


def replicas(obj):
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)


def selector_matches(selector, labels):
    labels = labels or {}
    for key, value in (selector or {}).get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    return all(expression_matches(expr, labels) for expr in (selector or {}).get("matchExpressions") or [])


def expression_matches(expr, labels):
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def tolerates(pod, taint):
    for tol in spec(pod).get("tolerations") or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol["key"] == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def quantity(value):
    try:
        return int(str(value))
    except ValueError:
        return 0


def extended_requests(pod):
    wanted = {}
    for container in spec(pod).get("containers") or []:
        resources = container.get("resources") or {}
        for source in (resources.get("limits") or {}, resources.get("requests") or {}):
            for name, value in source.items():
                if "/" in name:  # extended resources (nvidia.com/gpu); cpu and memory are not accounted
                    wanted[name] = max(wanted.get(name, 0), quantity(value))
    return wanted


class Controller:
    def __init__(self, api, identity, log, ca_cert=b""):
        self.api = api
        self.ca_cert = ca_cert
        self.identity = identity
        self.log = log
        self.res = {name: api.builtin[key] for name, key in {
            "pods": ("", "v1", "pods"), "nodes": ("", "v1", "nodes"), "pvcs": ("", "v1", "persistentvolumeclaims"),
            "deployments": ("apps", "v1", "deployments"), "replicasets": ("apps", "v1", "replicasets"),
            "statefulsets": ("apps", "v1", "statefulsets"), "daemonsets": ("apps", "v1", "daemonsets"),
            "jobs": ("batch", "v1", "jobs"), "leases": ("coordination.k8s.io", "v1", "leases"),
            "helmcharts": ("helm.cattle.io", "v1", "helmcharts"),
            "crds": ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            "secrets": ("", "v1", "secrets"), "serviceaccounts": ("", "v1", "serviceaccounts")}.items()}
        self.leading = False
        self.packaged = []  # objects of K3s's packaged manifests still to create (set_packaged)
        self.settled = None  # etcd's revision after a round that wrote nothing (reconcile_if_changed)
        self.chart_crds = chart_crds()
        self.failed_charts = {}  # HelmChart namespace/name -> (config hash, when to try again)

    # --- plumbing -----------------------------------------------------------------------
    def items(self, name):
        return self.api.list(self.res[name], None, {})["items"]

    def patch_status(self, name, obj, new_status):
        """Writes the whole status (an update of the status subresource) when it differs."""
        if status(obj) == new_status:
            return
        body = copy.deepcopy(obj)
        body["status"] = new_status
        body["metadata"].pop("resourceVersion", None)
        self.api.replace(self.res[name], meta(obj).get("namespace"), meta(obj)["name"], "status", body)

    def set_replicas(self, name, obj, count):
        if replicas(obj) != count:
            self.api.patch(self.res[name], meta(obj).get("namespace"), meta(obj)["name"], None,
                           {"spec": {"replicas": count}}, "application/merge-patch+json")

    def delete(self, name, obj):
        try:
            self.api.delete(self.res[name], meta(obj).get("namespace"), meta(obj)["name"])
        except APIError as exc:
            if exc.code != 404:
                raise

    def create_pod(self, owner, template, name, extra_labels=None, node=None):
        pod_meta = copy.deepcopy(meta(template))
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "labels": dict(pod_meta.get("labels") or {}, **(extra_labels or {})),
            "annotations": pod_meta.get("annotations") or {}, "ownerReferences": [owner_ref(owner)]},
            "spec": copy.deepcopy(spec(template))}
        if name.endswith("-"):
            body["metadata"]["generateName"] = name
        else:
            body["metadata"]["name"] = name
        if node:
            body["spec"]["nodeName"] = node
        self.api.create(self.res["pods"], meta(owner)["namespace"], body)

    # --- leader election (coordination.k8s.io Lease, as kube-controller-manager) ------------------
    def lead(self):
        leases = self.res["leases"]
        now = utcnow()
        try:
            lease, rev = self.api.read(leases, "kube-system", LEASE)
        except APIError as exc:
            if exc.code != 404:
                raise
            body = {"metadata": {"name": LEASE}, "spec": {
                "holderIdentity": self.identity, "leaseDurationSeconds": LEASE_SECONDS,
                "acquireTime": micro(now), "renewTime": micro(now), "leaseTransitions": 0}}
            try:
                self.api.create(leases, "kube-system", body)
                return True
            except APIError:
                return False
        holder = spec(lease).get("holderIdentity")
        renewed = parse_time(spec(lease).get("renewTime")) or now
        age = (now - renewed).total_seconds()
        if holder != self.identity and age < int(spec(lease).get("leaseDurationSeconds") or LEASE_SECONDS):
            return False
        if holder == self.identity and age < RENEW_AFTER:
            return True
        new = copy.deepcopy(lease)
        new["metadata"]["resourceVersion"] = str(rev)
        new["spec"]["renewTime"] = micro(now)
        if holder != self.identity:
            new["spec"].update(holderIdentity=self.identity, acquireTime=micro(now),
                               leaseTransitions=int(spec(lease).get("leaseTransitions") or 0) + 1)
        try:
            self.api.replace(leases, "kube-system", LEASE, None, new)
            return True
        except APIError:
            return False

    def ensure_namespaces(self):
        """The Namespaces the apiserver creates at start (default, kube-system, kube-public, kube-node-lease)."""
        namespaces = self.api.builtin[("", "v1", "namespaces")]
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            try:
                self.api.create(namespaces, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            except APIError as exc:
                if exc.code != 409:
                    raise

    def run(self, stop_event, period=1.0):
        """Until `stop_event`: the Namespaces once, then a round per `period`; errors are logged and retried."""
        ready = False
        last_error = None
        while not stop_event.is_set():
            try:
                if not ready:
                    self.ensure_namespaces()
                    ready = True
                self.step()
                last_error = None
            except (APIError, EtcdUnavailable, OSError, ValueError, KeyError) as exc:
                if repr(exc) != last_error:
                    self.log("warning", "lab controller: %r (retrying)" % exc)
                    last_error = repr(exc)
            stop_event.wait(period)

    def step(self):
        """One round: lead or stand by; as leader, reconcile everything once."""
        leading = self.lead()
        if leading != self.leading:
            self.log("info", "%s leadership of %s" % ("Acquired" if leading else "Lost", LEASE))
            self.leading = leading
        if leading:
            self.reconcile_if_changed()

    def reconcile_if_changed(self):
        """Reconciles unless nothing was written to etcd since a round that wrote nothing itself (level-triggered,
        as a real controller is on its informers' events): an idle lab then costs a look at etcd's revision a
        second, not every list (the lease renewal every RENEW_AFTER seconds still brings a round)."""
        revision = self.api.etcd.revision()
        if revision == self.settled and not self.packaged:
            return False
        self.reconcile()
        self.settled = revision if self.api.etcd.revision() == revision else None
        return True

    def set_packaged(self, disabled):
        """The objects of K3s's packaged manifests this server deploys (those `disable` does not name)."""
        self.packaged = packaged_objects(disabled)

    def reconcile(self):
        self.deploy()
        self.helmcharts(self.items("helmcharts"), self.items("jobs"))
        self.tokens(self.items("secrets"), self.items("serviceaccounts"))
        nodes = self.items("nodes")
        pods = self.items("pods")
        self.garbage_collect(pods)
        self.deployments(self.items("deployments"), self.items("replicasets"), pods)
        pods = self.items("pods")
        self.replicasets(self.items("replicasets"), pods)
        self.statefulsets(self.items("statefulsets"), pods)
        self.daemonsets(self.items("daemonsets"), pods, nodes)
        self.jobs(self.items("jobs"), pods)
        self.claims(self.items("pvcs"))
        pods = self.items("pods")
        self.schedule(pods, nodes)
        self.node_lifecycle(pods, nodes)

    # --- garbage collector ------------------------------------------------------------------------
    def garbage_collect(self, pods):
        owners = set()
        for name in ("replicasets", "deployments", "statefulsets", "daemonsets", "jobs"):
            owners.update(meta(obj).get("uid") for obj in self.items(name) if not meta(obj).get("deletionTimestamp"))
        for name, objs in (("replicasets", self.items("replicasets")), ("pods", pods)):
            for obj in objs:
                refs = [r for r in meta(obj).get("ownerReferences") or [] if r.get("controller")]
                if refs and refs[0].get("uid") not in owners and not meta(obj).get("deletionTimestamp"):
                    self.delete(name, obj)

    # --- workloads --------------------------------------------------------------------------------
    def deployments(self, deployments, sets, pods):
        for dep in deployments:
            if meta(dep).get("deletionTimestamp"):
                continue
            template = spec(dep).get("template") or {}
            digest = template_hash(template)
            mine = [rs for rs in sets if owned_by(rs, dep)]
            new = next((rs for rs in mine if (meta(rs).get("labels") or {}).get("pod-template-hash") == digest), None)
            old = [rs for rs in mine if rs is not new]
            old_pods = [p for p in pods if any(owned_by(p, rs) for rs in old) and not meta(p).get("deletionTimestamp")]
            want = replicas(dep)
            recreate = (spec(dep).get("strategy") or {}).get("type") == "Recreate"
            if recreate:
                for rs in old:
                    self.set_replicas("replicasets", rs, 0)
                target = 0 if old_pods else want
            else:
                target = want
            if new is None:
                new_template = copy.deepcopy(template)
                new_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
                selector = copy.deepcopy(spec(dep).get("selector") or {})
                selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
                body = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                    "name": "%s-%s" % (meta(dep)["name"], digest),
                    "labels": dict((meta(template).get("labels") or {}), **{"pod-template-hash": digest}),
                    "ownerReferences": [owner_ref(dep)]},
                    "spec": {"replicas": target, "selector": selector, "template": new_template}}
                new, _code = self.api.create(self.res["replicasets"], meta(dep)["namespace"], body)
            else:
                self.set_replicas("replicasets", new, target)
            new_pods = [p for p in pods if owned_by(p, new) and alive(p)]
            if not recreate and sum(1 for p in new_pods if is_ready(p)) >= want:
                for rs in old:
                    self.set_replicas("replicasets", rs, 0)
            every = [p for p in pods if any(owned_by(p, rs) for rs in mine) and alive(p)]
            ready = sum(1 for p in every if is_ready(p))
            available = ready >= want
            conditions = [
                {"type": "Available", "status": "True" if available else "False",
                 "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                 "message": "Deployment has %s minimum availability." % ("" if available else "not")},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"
                 if available and not old_pods else "ReplicaSetUpdated",
                 "message": 'ReplicaSet "%s" is progressing.' % meta(new)["name"]}]
            new_status = {"observedGeneration": meta(dep).get("generation", 1), "replicas": len(every),
                          "updatedReplicas": len(new_pods), "readyReplicas": ready, "availableReplicas": ready,
                          "unavailableReplicas": max(0, want - ready), "conditions": conditions}
            self.patch_status("deployments", dep, {k: v for k, v in new_status.items() if v or k == "conditions"})

    def replicasets(self, sets, pods):
        for rs in sets:
            if meta(rs).get("deletionTimestamp"):
                continue
            mine = [p for p in pods if owned_by(p, rs) and alive(p)]
            want = replicas(rs)
            for _n in range(want - len(mine)):
                self.create_pod(rs, spec(rs).get("template") or {}, meta(rs)["name"] + "-")
            if len(mine) > want:
                victims = sorted(mine, key=lambda p: (is_ready(p), bool(spec(p).get("nodeName")),
                                                      meta(p).get("creationTimestamp", "")))
                for pod in victims[:len(mine) - want]:
                    self.delete("pods", pod)
                mine = victims[len(mine) - want:]
            ready = sum(1 for p in mine if is_ready(p))
            new_status = {"observedGeneration": meta(rs).get("generation", 1), "replicas": len(mine),
                          "fullyLabeledReplicas": len(mine), "readyReplicas": ready, "availableReplicas": ready}
            self.patch_status("replicasets", rs, {k: v for k, v in new_status.items() if v or k == "replicas"})

    def statefulsets(self, sets, pods):
        for sts in sets:
            if meta(sts).get("deletionTimestamp"):
                continue
            name, want = meta(sts)["name"], replicas(sts)
            revision = "%s-%s" % (name, template_hash(spec(sts).get("template") or {}))
            mine = {meta(p)["name"]: p for p in pods if owned_by(p, sts) and not meta(p).get("deletionTimestamp")}
            for claim in spec(sts).get("volumeClaimTemplates") or []:
                for ordinal in range(want):
                    self.ensure_claim(sts, claim, "%s-%s-%d" % (meta(claim)["name"], name, ordinal))
            ordered = [mine.get("%s-%d" % (name, n)) for n in range(want)]
            extra = sorted((p for n, p in mine.items() if n not in {"%s-%d" % (name, i) for i in range(want)}),
                           key=lambda p: -int(meta(p)["name"].rsplit("-", 1)[1]))
            if extra:
                self.delete("pods", extra[0])  # highest ordinal first, one at a time
            else:
                for ordinal, pod in enumerate(ordered):
                    if pod is None:
                        self.create_pod(sts, spec(sts).get("template") or {}, "%s-%d" % (name, ordinal),
                                        {"controller-revision-hash": revision,
                                         "statefulset.kubernetes.io/pod-name": "%s-%d" % (name, ordinal),
                                         "apps.kubernetes.io/pod-index": str(ordinal)})
                        break
                    if not is_ready(pod):
                        break  # OrderedReady
                else:
                    stale = [p for p in ordered if (meta(p).get("labels") or {}).get("controller-revision-hash") != revision]
                    if stale:
                        self.delete("pods", stale[-1])
            current = [p for p in mine.values() if alive(p)]
            ready = sum(1 for p in current if is_ready(p))
            updated = sum(1 for p in current if (meta(p).get("labels") or {}).get("controller-revision-hash") == revision)
            new_status = {"observedGeneration": meta(sts).get("generation", 1), "replicas": len(current),
                          "readyReplicas": ready, "currentReplicas": updated, "updatedReplicas": updated,
                          "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision}
            self.patch_status("statefulsets", sts, {k: v for k, v in new_status.items()
                                                    if v or k in ("replicas", "availableReplicas")})

    def ensure_claim(self, owner, claim, name):
        pvcs = self.res["pvcs"]
        try:
            self.api.read(pvcs, meta(owner)["namespace"], name)
        except APIError as exc:
            if exc.code != 404:
                raise
            body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
                "name": name, "labels": dict(meta(claim).get("labels") or {})}, "spec": copy.deepcopy(spec(claim))}
            self.api.create(pvcs, meta(owner)["namespace"], body)

    def claims(self, claims):
        for pvc in claims:
            if status(pvc).get("phase") != "Bound" and not meta(pvc).get("deletionTimestamp"):
                request = ((spec(pvc).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
                self.patch_status("pvcs", pvc, {"phase": "Bound", "accessModes": spec(pvc).get("accessModes") or [],
                                                "capacity": {"storage": request}})

    def eligible(self, pod, node, pods_on_node, daemon=False):
        if condition(node, "Ready") != "True" and not daemon:
            return False
        if spec(node).get("unschedulable") and not daemon:
            return False
        labels = meta(node).get("labels") or {}
        for key, value in (spec(pod).get("nodeSelector") or {}).items():
            if labels.get(key) != value:
                return False
        required = (((spec(pod).get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = required.get("nodeSelectorTerms") or []
        if terms and not any(all(expression_matches(e, labels) for e in t.get("matchExpressions") or [])
                             for t in terms):
            return False
        for taint in spec(node).get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
                return False
        allocatable = status(node).get("allocatable") or {}
        for name, amount in extended_requests(pod).items():
            used = sum(extended_requests(p).get(name, 0) for p in pods_on_node)
            if used + amount > quantity(allocatable.get(name, 0)):
                return False
        return True

    def daemonsets(self, sets, pods, nodes):
        for ds in sets:
            if meta(ds).get("deletionTimestamp"):
                continue
            template = spec(ds).get("template") or {}
            mine = [p for p in pods if owned_by(p, ds) and alive(p)]
            on = {spec(p).get("nodeName"): p for p in mine}
            wanted = [n for n in nodes if self.eligible(
                template, n, [p for p in pods if spec(p).get("nodeName") == meta(n)["name"] and alive(p)], daemon=True)]
            for node in wanted:
                if meta(node)["name"] not in on:
                    self.create_pod(ds, template, meta(ds)["name"] + "-", node=meta(node)["name"])
            names = {meta(n)["name"] for n in wanted}
            for node_name, pod in on.items():
                if node_name not in names:
                    self.delete("pods", pod)
            ready = sum(1 for p in mine if is_ready(p) and spec(p).get("nodeName") in names)
            new_status = {"observedGeneration": meta(ds).get("generation", 1), "desiredNumberScheduled": len(wanted),
                          "currentNumberScheduled": len(mine), "numberReady": ready, "numberAvailable": ready,
                          "updatedNumberScheduled": len(mine), "numberMisscheduled": 0}
            self.patch_status("daemonsets", ds, new_status)

    def jobs(self, jobs, pods):
        for job in jobs:
            if meta(job).get("deletionTimestamp") or condition(job, "Complete") == "True":
                continue
            mine = [p for p in pods if owned_by(p, job)]
            succeeded = sum(1 for p in mine if status(p).get("phase") == "Succeeded")
            active = [p for p in mine if alive(p)]
            completions = int(spec(job).get("completions") or 1)
            parallelism = int(spec(job).get("parallelism") or 1)
            labels = {"batch.kubernetes.io/job-name": meta(job)["name"], "job-name": meta(job)["name"],
                      "batch.kubernetes.io/controller-uid": meta(job)["uid"]}
            for _n in range(min(parallelism - len(active), completions - succeeded - len(active))):
                self.create_pod(job, spec(job).get("template") or {}, meta(job)["name"] + "-", labels)
            new_status = dict(status(job))
            new_status.setdefault("startTime", stamp())
            new_status.update(active=len(active), succeeded=succeeded)
            if succeeded >= completions:
                new_status.update(active=0, completionTime=stamp(), conditions=[
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": stamp()},
                    {"type": "Complete", "status": "True", "lastTransitionTime": stamp()}])
            self.patch_status("jobs", job, {k: v for k, v in new_status.items() if v or k == "succeeded"})

    # --- K3s's deploy controller and helm-controller ------------------------------------------------
    def deploy(self):
        """Creates the packaged objects that are missing; each one once per server start."""
        while self.packaged:
            (group, version, plural), obj = self.packaged[0]
            try:
                self.api.create(self.api.resources()[(group, version, plural)], meta(obj).get("namespace"), obj)
                self.log("info", "Deployed %s %s/%s" % (obj["kind"], meta(obj).get("namespace", ""), meta(obj)["name"]))
            except APIError as exc:
                if exc.code != 409:
                    raise
            self.packaged.pop(0)

    def helmcharts(self, charts, jobs):
        registered = {"%s.%s" % (res.plural, res.group) for res in self.api.resources().values() if res.custom}
        for chart in charts:
            if meta(chart).get("deletionTimestamp"):
                continue
            name, namespace = meta(chart)["name"], meta(chart)["namespace"]
            job = install_job(chart)
            current = next((j for j in jobs if meta(j).get("namespace") == namespace
                            and meta(j)["name"] == meta(job)["name"]), None)
            if current is not None and meta(current).get("annotations", {}).get(CONFIG_HASH) != \
                    meta(job)["annotations"][CONFIG_HASH]:
                if not meta(current).get("deletionTimestamp"):
                    self.delete("jobs", current)  # the spec changed: the next round installs again
                continue
            if current is None:
                self.api.create(self.res["jobs"], namespace, job)
                self.log("info", "Created helm install job %s/%s" % (namespace, meta(job)["name"]))
                continue
            if status(chart).get("jobName") != meta(job)["name"]:
                self.patch_status("helmcharts", chart, dict(status(chart), jobName=meta(job)["name"]))
            if condition(current, "Complete") == "True":
                self.register_crds(chart, registered)
                self.install_release(chart, meta(job)["annotations"][CONFIG_HASH])
        self.uninstall_releases(charts)

    def register_crds(self, chart, registered):
        """The chart's CRDs, as `helm install` creates them (one in `registered` is left as it is)."""
        name = chart_name(chart)
        for crd in (self.chart_crds.get(name) or {}).get("crds", []):
            body = crd_object(crd, name)
            if meta(body)["name"] in registered:
                continue
            try:
                self.api.create(self.res["crds"], None, body)
            except APIError as exc:
                if exc.code != 409:  # another chart (or a user) registered it meanwhile
                    raise
                continue
            registered.add(meta(body)["name"])
            self.log("info", "Registered %s (chart %s)" % (meta(body)["name"], name))

    # --- helm install / upgrade / uninstall of a HelmChart's chart (the real helm, the real chart) ------------
    def release_secret(self, namespace, name):
        try:
            return self.api.read(self.res["secrets"], namespace, "sh.helm.release.v1.%s.v1" % name)[0]
        except APIError as exc:
            if exc.code != 404:
                raise
            return None

    def install_release(self, chart, digest):
        name = meta(chart)["name"]
        target = str(spec(chart).get("targetNamespace") or meta(chart)["namespace"])
        record = self.release_secret(target, name)
        if record is not None and meta(record).get("annotations", {}).get(CONFIG_HASH) == digest:
            return  # installed with this spec
        archive = chart_archive(chart)
        if archive is None:
            return  # K3s's packaged charts: their recorded CRDs only
        key = "%s/%s" % (meta(chart)["namespace"], name)
        failed = self.failed_charts.get(key)
        if failed and failed[0] == digest and utcnow() < failed[1]:
            return  # failed with this spec: tried again after a while (the install Job's backoff)
        if not os.path.isfile(archive):
            self.chart_failed(chart, digest, "chart archive %s is not in the lab's chart directory %s" % (
                os.path.basename(archive), LAB_CHARTS))
            return
        previous = json.loads(base64_text((record or {}).get("data", {}).get(RELEASE_RECORD)) or "[]")
        try:
            # helm installs a chart's CRDs first and renders with them served (.Capabilities.APIVersions): a
            # second render when the chart brings API versions the cluster does not serve yet
            served = self.api_versions()
            objects = helm_template(name, archive, target, spec(chart), self.api.version, served)
            new = crd_api_versions(objects) - served
            if new:
                objects = helm_template(name, archive, target, spec(chart), self.api.version, served | new)
            crds = [obj for obj in objects if obj.get("kind") == "CustomResourceDefinition"]
            others = [obj for obj in objects if obj.get("kind") != "CustomResourceDefinition"]
            resources = self.api.resources()
            installed = [self.apply_release_object(obj, name, target, resources) for obj in crds]
            resources = self.api.resources()  # with the chart's CRDs
            installed += [self.apply_release_object(obj, name, target, resources)
                          for obj in sorted(others, key=install_order)]
        except (ChartFailed, APIError) as exc:
            self.chart_failed(chart, digest, str(exc))
            return
        for ref in previous:
            if ref not in installed:
                self.delete_ref(ref)
        body = {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1", "metadata": {
            "name": "sh.helm.release.v1.%s.v1" % name, "namespace": target,
            "labels": {"owner": "helm", "name": name, "status": "deployed", "version": "1"},
            "annotations": {CONFIG_HASH: digest, RELEASE_CHART: "%s/%s" % (meta(chart)["namespace"], name)}},
            "data": {RELEASE_RECORD: b64(json.dumps(installed))}}
        if record is None:
            self.api.create(self.res["secrets"], target, body)
        else:
            self.api.replace(self.res["secrets"], target, body["metadata"]["name"], None, body)
        self.log("info", "Installed chart %s (release %s/%s, %d objects)" % (
            os.path.basename(archive), target, name, len(installed)))

    def api_versions(self):
        """What helm's .Capabilities.APIVersions holds on a real cluster: every group/version and
        group/version/Kind the API serves (CRDs included)."""
        out = set()
        for (group, version, _plural), res in self.api.resources().items():
            group_version = "%s/%s" % (group, version) if group else version
            out.update((group_version, "%s/%s" % (group_version, res.kind)))
        return out

    def resource_of(self, obj, resources=None):
        group, _sep, version = obj.get("apiVersion", "").rpartition("/")
        for (res_group, res_version, _plural), res in (resources or self.api.resources()).items():
            if res_group == group and res_version == version and res.kind == obj.get("kind"):
                return res
        raise ChartFailed("no API serves %s %s" % (obj.get("apiVersion"), obj.get("kind")))

    def apply_release_object(self, obj, release, target, resources):
        res = self.resource_of(obj, resources)
        body = copy.deepcopy(obj)
        metadata = body.setdefault("metadata", {})
        namespace = (metadata.get("namespace") or target) if res.namespaced else None
        if namespace:
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        metadata["labels"] = dict(metadata.get("labels") or {}, **{"app.kubernetes.io/managed-by": "Helm"})
        metadata["annotations"] = dict(metadata.get("annotations") or {},
                                       **{RELEASE_NAME: release, RELEASE_NAMESPACE: target})
        try:
            self.api.create(res, namespace, body)
        except APIError as exc:
            if exc.code != 409:
                raise
            current, revision = self.api.read(res, namespace, metadata["name"])
            body["metadata"]["resourceVersion"] = str(revision)
            if "status" in current:
                body["status"] = current["status"]
            self.api.replace(res, namespace, metadata["name"], None, body)
        return [obj["apiVersion"], obj["kind"], namespace, metadata["name"]]

    def delete_ref(self, ref):
        api_version, kind, namespace, name = ref
        try:
            res = self.resource_of({"apiVersion": api_version, "kind": kind})
            self.api.delete(res, namespace, name)
        except APIError as exc:
            if exc.code != 404:
                raise
        except ChartFailed:
            pass  # its CRD went first: the object went with it

    def uninstall_releases(self, charts):
        """helm uninstall of each release whose HelmChart is gone (K3s's helm-delete Job)."""
        present = {"%s/%s" % (meta(c)["namespace"], meta(c)["name"]) for c in charts}
        for record in self.items("secrets"):
            owner = meta(record).get("annotations", {}).get(RELEASE_CHART)
            if record.get("type") != "helm.sh/release.v1" or not owner or owner in present:
                continue
            for ref in reversed(json.loads(base64_text(record.get("data", {}).get(RELEASE_RECORD)) or "[]")):
                self.delete_ref(ref)
            self.delete("secrets", record)
            self.log("info", "Uninstalled release %s/%s (HelmChart %s is gone)" % (
                meta(record)["namespace"], meta(record)["labels"].get("name"), owner))

    def chart_failed(self, chart, digest, message):
        self.failed_charts["%s/%s" % (meta(chart)["namespace"], meta(chart)["name"])] = (
            digest, utcnow() + datetime.timedelta(seconds=30))
        wanted = [{"type": "Failed", "status": "True", "reason": "InstallFailed", "message": message}]
        if [{k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in status(chart).get("conditions") or []] != wanted:
            self.log("warning", "HelmChart %s/%s: %s" % (meta(chart)["namespace"], meta(chart)["name"], message))
            self.patch_status("helmcharts", chart, dict(status(chart), conditions=[
                dict(wanted[0], lastTransitionTime=stamp())]))

    def tokens(self, token_secrets, accounts):
        uids = {(meta(sa)["namespace"], meta(sa)["name"]): meta(sa)["uid"] for sa in accounts}
        for secret in token_secrets:
            annotations = meta(secret).get("annotations") or {}
            key = (meta(secret)["namespace"], annotations.get("kubernetes.io/service-account.name"))
            if secret.get("type") != "kubernetes.io/service-account-token" or key not in uids \
                    or (secret.get("data") or {}).get("token"):
                continue
            body = copy.deepcopy(secret)
            body["metadata"].pop("resourceVersion", None)
            body["metadata"].setdefault("annotations", {})["kubernetes.io/service-account.uid"] = uids[key]
            body["data"] = dict(body.get("data") or {}, **{
                "token": b64(service_account_token()), "ca.crt": b64(self.ca_cert), "namespace": b64(key[0])})
            self.api.replace(self.res["secrets"], key[0], meta(secret)["name"], None, body)
            self.log("info", "Issued the token of ServiceAccount %s/%s" % key)

    # --- scheduler and node lifecycle -------------------------------------------------------------
    def schedule(self, pods, nodes):
        load = {meta(n)["name"]: [p for p in pods if spec(p).get("nodeName") == meta(n)["name"] and alive(p)]
                for n in nodes}
        for pod in pods:
            if spec(pod).get("nodeName") or not alive(pod):
                continue
            fits = [n for n in nodes if self.eligible(pod, n, load[meta(n)["name"]])]
            ns, name = meta(pod)["namespace"], meta(pod)["name"]
            if not fits:
                if condition(pod, "PodScheduled") != "False":
                    self.api.patch(self.res["pods"], ns, name, "status", {"status": {"conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/%d nodes are available." % len(nodes), "lastTransitionTime": stamp()}]}},
                        "application/strategic-merge-patch+json")
                continue
            chosen = min(fits, key=lambda n: (len(load[meta(n)["name"]]), meta(n)["name"]))
            load[meta(chosen)["name"]].append(pod)
            self.api.patch(self.res["pods"], ns, name, None, {"spec": {"nodeName": meta(chosen)["name"]}},
                           "application/merge-patch+json")
            self.api.patch(self.res["pods"], ns, name, "status", {"status": {"conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp()}]}},
                "application/strategic-merge-patch+json")

    def node_lifecycle(self, pods, nodes):
        down = {meta(n)["name"] for n in nodes if condition(n, "Ready") != "True"}
        for pod in pods:
            if spec(pod).get("nodeName") in down and condition(pod, "Ready") == "True":
                self.api.patch(self.res["pods"], meta(pod)["namespace"], meta(pod)["name"], "status", {"status": {
                    "conditions": [{"type": "Ready", "status": "False", "reason": "NodeNotReady",
                                    "lastTransitionTime": stamp()}]}}, "application/strategic-merge-patch+json")


def service_account_token():
    """An opaque bearer token (the lab signs nothing; see lab_apiserver.LabAPI.token_user)."""
    return "lab-sa." + secrets.token_urlsafe(32)


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # pylint: disable=too-many-ancestors
    """YAML as helm's output is read by Kubernetes: a bare `=` is the string it is (YAML 1.1's obsolete "value"
    type, which PyYAML resolves but cannot construct: CRD schemas hold `enum: [=, ...]`)."""


Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class ChartFailed(Exception):
    """helm could not render the chart, or an object it rendered has no API."""


# helm's install order (pkg/release/util/kind_sorter.go InstallOrder), the kinds our charts render
INSTALL_ORDER = ["PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
                 "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
                 "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
                 "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
                 "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
                 "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
                 "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


def install_order(obj):
    """CRDs before everything (helm installs a chart's crds/ first), then helm's order, unknown kinds last."""
    kind = obj.get("kind")
    if kind == "CustomResourceDefinition":
        return (-1, 0)
    return (0, INSTALL_ORDER.index(kind)) if kind in INSTALL_ORDER else (1, 0)


def base64_text(value):
    import base64

    return base64.b64decode(value).decode() if value else ""


def crd_api_versions(objects):
    """The group/version and group/version/Kind strings the CRDs among `objects` serve."""
    out = set()
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            crd = obj.get("spec") or {}
            for version in crd.get("versions") or []:
                if version.get("served", True):
                    group_version = "%s/%s" % (crd.get("group"), version.get("name"))
                    out.update((group_version, "%s/%s" % (group_version, (crd.get("names") or {}).get("kind"))))
    return out


def chart_archive(chart):
    """The archive of the chart a HelmChart names in the lab's chart directory (CHART-VERSION.tgz), or None for
    K3s's packaged charts (spec.chart a URL of the server's static charts)."""
    ref = str(spec(chart).get("chart") or "")
    if ref.endswith(".tgz"):
        return None
    version = str(spec(chart).get("version") or "")
    return os.path.join(LAB_CHARTS, "%s-%s.tgz" % (ref, version))


def helm_template(release, archive, namespace, chart_spec, kube_version, api_versions):
    """The objects `helm install` creates (hooks left out), rendered by the real helm."""
    with tempfile.TemporaryDirectory() as home:
        values = os.path.join(home, "values.yaml")
        with open(values, "w", encoding="utf-8") as handle:
            handle.write(str(chart_spec.get("valuesContent") or ""))
        cmd = [LAB_HELM, "template", release, archive, "--namespace", namespace, "--values", values,
               "--include-crds", "--no-hooks", "--kube-version", kube_version.split("+")[0]]
        for key, value in sorted((chart_spec.get("set") or {}).items()):
            cmd += ["--set-string" if isinstance(value, str) else "--set", "%s=%s" % (key, value)]
        for api in sorted(api_versions):
            cmd += ["--api-versions", api]
        env = dict(os.environ, **{name: os.path.join(home, name.lower())
                                  for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")})
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ChartFailed("helm template %s: %s" % (os.path.basename(archive), exc)) from exc
    if proc.returncode != 0:
        raise ChartFailed("helm template %s failed: %s" % (os.path.basename(archive), proc.stderr.strip()[-2000:]))
    objects = []
    for doc in yaml.load_all(proc.stdout, Loader=Loader):
        if isinstance(doc, dict):
            objects += doc.get("items") or [] if doc.get("kind") == "List" else [doc]
    return objects


def chart_crds():
    """chart name -> {version, source, crds} (chart-crds.json beside this file, or inside the k3s zip)."""
    data = json.loads(pkgutil.get_data("lab_controller", "chart-crds.json"))
    return {name: value for name, value in data.items() if not name.startswith("_")}


def chart_name(chart):
    """The chart a HelmChart names: spec.chart, or the name in the URL of a packaged one
    (K3s's traefik-crd: https://%{KUBERNETES_API}%/static/charts/traefik-crd-37.1.1+up37.1.1.tgz)."""
    ref = str(spec(chart).get("chart") or "")
    if ref.endswith(".tgz"):
        base = ref.rsplit("/", 1)[-1][:-len(".tgz")]
        parts = base.split("-")
        while parts and parts[-1][:1].isdigit():
            parts.pop()
        return "-".join(parts)
    return ref


def install_job(chart):
    """The Job K3s's helm-controller runs for a HelmChart (k3s-io/helm-controller pkg/controllers/chart)."""
    name, namespace = meta(chart)["name"], meta(chart)["namespace"]
    chart_spec = spec(chart)
    digest = "SHA256=" + hashlib.sha256(json.dumps(chart_spec, sort_keys=True).encode()).hexdigest().upper()
    env = [{"name": "NAME", "value": name}, {"name": "VERSION", "value": str(chart_spec.get("version") or "")},
           {"name": "REPO", "value": str(chart_spec.get("repo") or "")},
           {"name": "HELM_DRIVER", "value": "secret"},
           {"name": "CHART_NAMESPACE", "value": namespace},
           {"name": "CHART", "value": str(chart_spec.get("chart") or "")},
           {"name": "TARGET_NAMESPACE", "value": str(chart_spec.get("targetNamespace") or namespace)}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": "helm-install-" + name, "namespace": namespace,
        "labels": {"helmcharts.helm.cattle.io/chart": name},
        "annotations": {CONFIG_HASH: digest},
        "ownerReferences": [dict(owner_ref(chart), blockOwnerDeletion=False)]},
        "spec": {"backoffLimit": 1000, "template": {
            "metadata": {"labels": {"helmcharts.helm.cattle.io/chart": name},
                         "annotations": {CONFIG_HASH: digest}},
            "spec": {"restartPolicy": "OnFailure", "serviceAccountName": "helm-" + name,
                     "containers": [{"name": "helm", "image": HELM_IMAGE, "args": ["install"], "env": env}]}}}}


def crd_object(crd, chart):
    """A CustomResourceDefinition from its chart-crds.json summary (no schema: the lab validates nothing)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {
        "name": "%s.%s" % (crd["plural"], crd["group"]),
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": chart}},
        "spec": {"group": crd["group"], "scope": crd["scope"],
                 "names": {"kind": crd["kind"], "plural": crd["plural"], "singular": crd["singular"],
                           "shortNames": crd["shortNames"], "listKind": crd["kind"] + "List"},
                 "versions": [{"name": v["name"], "served": v["served"], "storage": v["storage"],
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}},
                               "subresources": {sub: {} for sub in v["subresources"]}} for v in crd["versions"]]}}


# K3s's packaged manifests (k3s-io/k3s manifests/), by the name `disable` takes: the objects the lab needs of
# them. Images are K3s v1.34's; no container runs in the lab.
def _system_deployment(name, labels, image):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": name, "namespace": "kube-system", "labels": labels}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"priorityClassName": "system-node-critical", "nodeSelector": {"kubernetes.io/os": "linux"},
                     "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                     {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                      "effect": "NoSchedule"}],
                     "containers": [{"name": name, "image": image}]}}}}


def _packaged_helmchart(name, extra):
    return {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {
        "name": name, "namespace": "kube-system"},
        "spec": dict({"chart": "https://%%{KUBERNETES_API}%%/static/charts/%s-37.1.1+up37.1.1.tgz" % name}, **extra)}


PACKAGED = {
    "coredns": [(("apps", "v1", "deployments"), _system_deployment(
        "coredns", {"k8s-app": "kube-dns"}, "rancher/mirrored-coredns-coredns:1.12.3"))],
    "local-storage": [
        (("storage.k8s.io", "v1", "storageclasses"), {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {
                "name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete"}),
        (("apps", "v1", "deployments"), _system_deployment(
            "local-path-provisioner", {"app": "local-path-provisioner"}, "rancher/local-path-provisioner:v0.0.32"))],
    "metrics-server": [(("apps", "v1", "deployments"), _system_deployment(
        "metrics-server", {"k8s-app": "metrics-server"}, "rancher/mirrored-metrics-server:v0.8.0"))],
    "traefik": [(("helm.cattle.io", "v1", "helmcharts"), _packaged_helmchart("traefik-crd", {})),
                (("helm.cattle.io", "v1", "helmcharts"), _packaged_helmchart(
                    "traefik", {"valuesContent": "priorityClassName: system-cluster-critical\n"}))],
}


def packaged_objects(disabled):
    disabled = set(disabled or ())
    return [(key, copy.deepcopy(obj)) for name, objs in PACKAGED.items() if name not in disabled for key, obj in objs]


def kubelet_update(pod, node_ip):
    """The status the kubelet writes for one of its Pods, or None when there is nothing to write."""
    if meta(pod).get("deletionTimestamp"):
        return None
    phase = status(pod).get("phase")
    if phase in TERMINAL or (phase == "Running" and condition(pod, "Ready") == "True"):
        return None
    now = stamp()
    containers = spec(pod).get("containers") or []
    completes = spec(pod).get("restartPolicy") in ("Never", "OnFailure")
    if completes:
        states = [{"name": c.get("name"), "image": c.get("image", ""), "imageID": "", "ready": False, "restartCount": 0,
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
                  for c in containers]
        conditions = [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
                      {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}]
        new_phase = "Succeeded"
    else:
        states = [{"name": c.get("name"), "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
                   "started": True, "state": {"running": {"startedAt": now}}} for c in containers]
        conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                      {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]
        new_phase = "Running"
    conditions += [{"type": "Initialized", "status": "True", "lastTransitionTime": now},
                   {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]
    digest = int(hashlib.sha256((meta(pod).get("uid") or str(uuid.uuid4())).encode()).hexdigest()[:4], 16)
    return {"status": {"phase": new_phase, "conditions": conditions, "containerStatuses": states,
                       "hostIP": node_ip, "podIP": "10.42.%d.%d" % (digest // 256 % 256, digest % 254 + 1),
                       "startTime": now, "qosClass": "BestEffort"}}

# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed 001's "Verification" checks of a running cluster, one PASS/FAIL line each (SKIP, with the
reason, for a check the caller says this cluster cannot pass, e.g. HTTPS in the container lab).

The checks take plain data (nodes, pods, storage classes, certificates, HTTP
results); `ClusterReader` turns an injected `kubernetes` ApiClient into that data.
"""

from __future__ import annotations

import ssl
import urllib.error

from ansible.module_utils.urls import open_url

from .k8s_client import call

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _line(check, status, detail):
    return {"check": check, "status": status, "detail": detail}


def _ready(conditions, kind="Ready"):
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions or [])


def check_nodes(nodes, expected=None):
    """nodes: [{metadata: {name}, status: {conditions}}]; expected: how many the inventory has."""
    not_ready = sorted(n["metadata"]["name"] for n in nodes if not _ready((n.get("status") or {}).get("conditions")))
    if not nodes:
        return _line("nodes", FAIL, "no node registered")
    if not_ready or (expected is not None and len(nodes) != expected):
        detail = "%d registered%s" % (len(nodes), " of %d" % expected if expected is not None else "")
        if not_ready:
            detail = "not Ready: %s; %s" % (", ".join(not_ready), detail)
        return _line("nodes", FAIL, detail)
    return _line("nodes", PASS, "%d nodes Ready" % len(nodes))


def _pod_problem(pod):
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if phase == "Succeeded":
        return None
    waiting = [(c.get("state") or {}).get("waiting", {}).get("reason") for c in status.get("containerStatuses") or []]
    waiting = [w for w in waiting if w]
    if phase != "Running":
        return waiting[0] if waiting else phase
    if not _ready(status.get("conditions")):
        return waiting[0] if waiting else "not ready"
    return None


def check_pods(namespace, pods):
    """Every pod of the namespace Running and ready (or Succeeded, for Jobs)."""
    if not pods:
        return _line("pods %s" % namespace, FAIL, "no pods in %s" % namespace)
    problems = sorted("%s (%s)" % (p["metadata"]["name"], problem)
                      for p in pods for problem in [_pod_problem(p)] if problem)
    if problems:
        return _line("pods %s" % namespace, FAIL, "%s: %s" % (namespace, ", ".join(problems)))
    return _line("pods %s" % namespace, PASS, "%s: %d pods running or completed" % (namespace, len(pods)))


def check_default_storage_class(classes, expected):
    """classes: [{metadata: {name, annotations}}]; exactly `expected` is the default."""
    defaults = sorted(c["metadata"]["name"] for c in classes
                      if ((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"))
    if defaults == [expected]:
        return _line("storageclass", PASS, "%s is the default StorageClass" % expected)
    if not defaults:
        return _line("storageclass", FAIL, "no default StorageClass (expected %s)" % expected)
    return _line("storageclass", FAIL, "default StorageClass: %s (expected only %s)" % (", ".join(defaults), expected))


def datasources(documents):
    """The data sources (dicts) that Grafana's provisioning files declare; documents are the files' texts."""
    import yaml  # a dependency of ansible-core itself

    found = []
    for text in documents:
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict):
                found += [source for source in doc.get("datasources") or [] if isinstance(source, dict)]
    return found


def check_datasources(documents):
    """documents: the provisioning files Grafana's sidecar loads (ConfigMaps and Secrets labelled
    grafana_datasource, their values as text). Exactly one data source is the default and no name is provisioned
    twice: Grafana refuses to start otherwise ("Only one datasource per organization can be marked as default")."""
    sources = datasources(documents)
    if not sources:
        return _line("datasources", FAIL, "Grafana gets no data source (is epic 4 applied?)")
    defaults = sorted(str(s.get("name")) for s in sources if s.get("isDefault") is True)
    names = [str(s.get("name")) for s in sources]
    twice = sorted({name for name in names if names.count(name) > 1})
    if len(defaults) != 1 or twice:
        problems = (["%d defaults (%s)" % (len(defaults), ", ".join(defaults) or "none")] if len(defaults) != 1 else [])
        problems += ["provisioned twice: %s" % ", ".join(twice)] if twice else []
        return _line("datasources", FAIL, "Grafana refuses its data sources: %s" % "; ".join(problems))
    return _line("datasources", PASS, "%d Grafana data sources, %s the default" % (len(sources), defaults[0]))


def _selects(selector, labels):
    """A LabelSelector (matchLabels, matchExpressions) against an object's labels, as the API server matches."""
    labels = labels or {}
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def monitored_namespaces(monitors):
    """The namespaces whose Services the ServiceMonitors may select (None: any namespace)."""
    found = set()
    for monitor in monitors or []:
        where = (monitor.get("spec") or {}).get("namespaceSelector") or {}
        if where.get("any"):
            return None
        found.update(where.get("matchNames") or [(monitor.get("metadata") or {}).get("namespace")])
    return found


def _check_service_monitors(reader):
    monitors = reader.service_monitors()
    return check_service_monitors(monitors, reader.services(monitored_namespaces(monitors)) if monitors else [])


def check_service_monitors(monitors, services):
    """monitors: the ServiceMonitors (None: the API is not served); services: every Service. Each ServiceMonitor
    must select at least one Service (prometheus-operator: spec.selector in the namespaces spec.namespaceSelector
    names, its own when none): one that selects none scrapes nothing, and the alerts on its job never fire (or
    never clear). A Service without ready Pods (vLLM at 0 replicas in gaming mode) still counts: it is scraped
    again when its Pods return."""
    if monitors is None:
        return _line("servicemonitors", FAIL, "the monitoring.coreos.com/v1 API is not served (is epic 4 applied?)")
    if not monitors:
        return _line("servicemonitors", FAIL, "no ServiceMonitor (is epic 4 applied?)")
    empty = []
    for monitor in monitors:
        meta, spec = monitor.get("metadata") or {}, monitor.get("spec") or {}
        where = spec.get("namespaceSelector") or {}
        namespaces = None if where.get("any") else (where.get("matchNames") or [meta.get("namespace")])
        if not any(_selects(spec.get("selector"), (svc.get("metadata") or {}).get("labels"))
                   for svc in services
                   if namespaces is None or (svc.get("metadata") or {}).get("namespace") in namespaces):
            empty.append("%s/%s" % (meta.get("namespace"), meta.get("name")))
    if empty:
        return _line("servicemonitors", FAIL, "select no Service, so nothing is scraped: %s" % ", ".join(sorted(empty)))
    return _line("servicemonitors", PASS, "%d ServiceMonitors, each selects a Service" % len(monitors))


def check_certificates(certificates):
    """cert-manager Certificates: each Ready."""
    if not certificates:
        return _line("certificates", FAIL, "no Certificate objects (is epic 3 applied?)")
    bad = []
    for cert in certificates:
        conditions = (cert.get("status") or {}).get("conditions") or []
        if not _ready(conditions):
            message = next((c.get("message") for c in conditions if c.get("type") == "Ready"), "no Ready condition yet")
            bad.append("%s/%s (%s)" % (cert["metadata"].get("namespace"), cert["metadata"]["name"], message))
    if bad:
        return _line("certificates", FAIL, "not Ready: %s" % ", ".join(sorted(bad)))
    return _line("certificates", PASS, "%d certificates Ready" % len(certificates))


def check_https(url, fetch):
    """fetch(url) -> HTTP status (raises on connection or TLS errors); < 500 means the ingress answers."""
    try:
        status = fetch(url)
    except Exception as exc:  # pylint: disable=broad-except  # every failure is the check's answer
        reason = getattr(exc, "reason", None) or exc
        return _line("https %s" % url, FAIL, "%s: %s" % (url, reason))
    if status >= 500:
        return _line("https %s" % url, FAIL, "%s answered %d" % (url, status))
    return _line("https %s" % url, PASS, "%s answered %d over verified TLS" % (url, status))


def https_fetcher(ca_cert=None, timeout=10):
    """A fetch(url) that verifies TLS (the system CAs, or ca_cert) and returns the HTTP status."""
    if ca_cert:
        ssl.create_default_context(cafile=ca_cert)  # a bad bundle fails here, not as every URL's failure

    def fetch(url):
        if not url.startswith("https://"):
            raise ValueError("only https:// URLs are checked")
        try:
            response = open_url(url, timeout=timeout, validate_certs=True, ca_path=ca_cert, follow_redirects="safe")
            return response.status
        except urllib.error.HTTPError as exc:  # an HTTP answer, even 4xx/5xx
            return exc.code

    return fetch


class ClusterReader:
    """Reads what the checks need through the `kubernetes` client (as plain dicts)."""

    def __init__(self, api_client):
        from kubernetes import client

        self._client = api_client
        self._core = client.CoreV1Api(api_client)
        self._storage = client.StorageV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    def _plain(self, items):
        return [self._client.sanitize_for_serialization(item) for item in items]

    def nodes(self):
        return self._plain(call("list the Nodes", self._core.list_node).items)

    def pods(self, namespace):
        return self._plain(call("list the pods in %s" % namespace, self._core.list_namespaced_pod, namespace).items)

    def storage_classes(self):
        return self._plain(call("list the StorageClasses", self._storage.list_storage_class).items)

    def datasource_documents(self, namespace, label="grafana_datasource"):
        """The files of the ConfigMaps and Secrets Grafana's data source sidecar loads from the namespace."""
        import base64

        documents = []
        for item in call("list the ConfigMaps in %s" % namespace, self._core.list_namespaced_config_map, namespace,
                         label_selector=label).items:
            documents += list((item.data or {}).values())
        for item in call("list the Secrets in %s" % namespace, self._core.list_namespaced_secret, namespace,
                         label_selector=label).items:
            documents += [base64.b64decode(value).decode("utf-8") for value in (item.data or {}).values()]
        return documents

    def service_monitors(self):
        found = call("list the ServiceMonitors", self._custom.list_cluster_custom_object, "monitoring.coreos.com", "v1",
                     "servicemonitors", missing=True)  # None: the API is not served
        return None if found is None else found.get("items", [])

    def services(self, namespaces=None):
        """The Services of `namespaces` (None: every namespace)."""
        if namespaces is None:
            return self._plain(call("list the Services", self._core.list_service_for_all_namespaces).items)
        found = []
        for namespace in sorted(namespaces):
            for item in self._plain(call("list the Services in %s" % namespace, self._core.list_namespaced_service,
                                         namespace).items):
                item.setdefault("metadata", {}).setdefault("namespace", namespace)
                found.append(item)
        return found

    def certificates(self):
        found = call("list the Certificates", self._custom.list_cluster_custom_object, "cert-manager.io", "v1",
                     "certificates", missing=True)  # None: cert-manager's CRDs are not installed
        return (found or {}).get("items", [])


def skipped(check, skip):
    """The reason `skip` gives for a check: by its name ("pods monitoring") or its kind ("pods")."""
    skip = skip or {}
    return skip.get(check, skip.get(check.split(" ", 1)[0]))


def verify(reader, namespaces, expected_nodes=None, default_storage_class="nfs-client",
           certificates=True, https_urls=(), fetch=None, skip=None, datasource_namespace=None, service_monitors=False):
    """All checks, in seed 001's order. Returns the list of check results.

    skip: {check or kind of check: reason}; such a check is not run and reports SKIP with the reason."""
    fetch = fetch or https_fetcher()
    checks = [("nodes", lambda: check_nodes(reader.nodes(), expected_nodes))]
    checks += [("pods %s" % ns, lambda ns=ns: check_pods(ns, reader.pods(ns))) for ns in namespaces]
    if default_storage_class:
        checks.append(("storageclass", lambda: check_default_storage_class(reader.storage_classes(),
                                                                           default_storage_class)))
    if datasource_namespace:
        checks.append(("datasources", lambda: check_datasources(reader.datasource_documents(datasource_namespace))))
    if service_monitors:
        checks.append(("servicemonitors", lambda: _check_service_monitors(reader)))
    if certificates:
        checks.append(("certificates", lambda: check_certificates(reader.certificates())))
    checks += [("https %s" % url, lambda url=url: check_https(url, fetch)) for url in https_urls]
    results = []
    for check, run in checks:
        reason = skipped(check, skip)
        results.append(_line(check, SKIP, reason) if reason else run())
    return results


def report(results):
    """Lines users read: 'PASS nodes: 5 nodes Ready'."""
    return ["%s %s: %s" % (r["status"], r["check"], r["detail"]) for r in results]

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_verify
short_description: Check a running home-lab cluster the way seed 001's Verification does
description:
  - Nodes Ready (and as many as the inventory has), every pod of the given namespaces running or completed,
    the expected default StorageClass (and only it), Grafana's provisioned data sources (exactly one default and no
    name twice, or Grafana refuses to start), every cert-manager Certificate Ready,
    and each given URL answering over HTTPS with a verified certificate.
  - Only reads. Returns one result per check and the PASS/FAIL lines; the module itself fails only when the
    API cannot be read, so a playbook can print the whole report before it fails on the FAIL lines.
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  namespaces:
    description: Namespaces whose pods must all be running (or completed).
    type: list
    elements: str
    default: [kube-system, infra, monitoring]
  expected_nodes:
    description: How many nodes must be registered; not checked when omitted.
    type: int
  default_storage_class:
    description: The StorageClass that must be the only default; empty skips the check.
    type: str
    default: nfs-client
  datasource_namespace:
    description:
      - Grafana's namespace, whose ConfigMaps and Secrets labelled C(grafana_datasource) its sidecar provisions as data
        sources; exactly one of them must be the default and no name may appear twice. Not checked when omitted.
    type: str
    version_added: 0.2.0
  service_monitors:
    description:
      - Check that every prometheus-operator ServiceMonitor selects at least one Service (one that selects none scrapes
        nothing, and the alerts on its job never fire or never clear).
    type: bool
    default: false
    version_added: 0.2.0
  certificates:
    description: Check that every cert-manager Certificate is Ready.
    type: bool
    default: true
  https_urls:
    description: URLs that must answer over HTTPS (any status below 500, after a verified TLS handshake).
    type: list
    elements: str
    default: []
  https_ca_cert:
    description: CA bundle for O(https_urls) instead of the system's (Let's Encrypt certificates need none).
    type: path
  https_timeout:
    description: Seconds per URL.
    type: int
    default: 10
  skip:
    description:
      - "Checks this cluster cannot pass, each with the reason, reported as C(SKIP <check>: <reason>) and not run."
      - A key names one check (C(pods monitoring), C(https https://grafana.example.org)) or a kind of check
        (C(nodes), C(pods), C(storageclass), C(datasources), C(servicemonitors), C(certificates), C(https)).
      - The container lab uses it for what needs a real cluster (charts installed, an ingress answering).
    type: dict
    default: {}
extends_documentation_fragment:
  - homelab.platform.k8s_auth
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Verify the cluster
  homelab.platform.cluster_verify:
    expected_nodes: "{{ groups['k3s_cluster'] | length }}"
    https_urls: ["https://grafana.home.jetzinger.com"]
  register: verify

- name: Report
  ansible.builtin.debug:
    msg: "{{ verify.lines }}"
"""

RETURN = r"""
checks:
  description: One result per check.
  returned: success
  type: list
  elements: dict
  contains:
    check: {description: What was checked, type: str, sample: nodes}
    status: {description: "PASS, FAIL or SKIP", type: str, sample: PASS}
    detail: {description: What was found, type: str, sample: 5 nodes Ready}
lines:
  description: The report, one line per check.
  returned: success
  type: list
  elements: str
  sample: ["PASS nodes: 5 nodes Ready", "FAIL certificates: not Ready: monitoring/grafana-certificate (Issuing)"]
passed:
  description: Whether no check failed (a skipped check is not a failure).
  returned: success
  type: bool
"""

from ansible_collections.homelab.platform.plugins.module_utils import cluster_verify as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule


def main():
    argument_spec = dict(
        namespaces=dict(type="list", elements="str", default=["kube-system", "infra", "monitoring"]),
        expected_nodes=dict(type="int"),
        default_storage_class=dict(type="str", default="nfs-client"),
        datasource_namespace=dict(type="str"),
        service_monitors=dict(type="bool", default=False),
        certificates=dict(type="bool", default=True),
        https_urls=dict(type="list", elements="str", default=[]),
        https_ca_cert=dict(type="path"),
        https_timeout=dict(type="int", default=10),
        skip=dict(type="dict", default={}),
    )
    module = K8sModule(argument_spec, supports_check_mode=True)
    p = module.params
    try:
        fetch = core.https_fetcher(p["https_ca_cert"], p["https_timeout"])
    except (OSError, ValueError) as exc:
        module.fail_json(msg="https_ca_cert %s is not a usable CA bundle: %s" % (p["https_ca_cert"], exc))
    reader = core.ClusterReader(module.api_client())
    try:
        results = core.verify(reader, p["namespaces"], expected_nodes=p["expected_nodes"],
                              default_storage_class=p["default_storage_class"], certificates=p["certificates"],
                              https_urls=p["https_urls"], fetch=fetch, skip=p["skip"],
                              datasource_namespace=p["datasource_namespace"],
                              service_monitors=p["service_monitors"])
    except K8sError as exc:
        module.fail_from(exc)
    module.exit_json(changed=False, checks=results, lines=core.report(results),
                     passed=all(r["status"] != core.FAIL for r in results))


if __name__ == "__main__":
    main()

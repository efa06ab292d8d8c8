#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_apply
short_description: Apply a set of Kubernetes objects, a Secret and patches in one call
description:
  - Applies O(objects) and then the objects of O(manifests) in order (Namespaces first, then the Secrets O(secrets) describes, then the others), then
    merges O(patches) into objects the cluster owns. One call does what a role needs, so a re-run costs one module
    run per role.
  - For each object, reads it; creates it when missing; leaves it alone when it already holds every field the
    definition sets; else patches it (strategic merge for built-in kinds, JSON merge for custom resources) and
    reports C(changed) only when the object differs after the patch, fields the server alone writes aside.
  - The API of each object is looked up on the server on every run (no discovery cache). An object whose API is in
    O(await_apis) (a CRD a chart installs) waits until the API is served, up to O(api_timeout); any other API the
    server does not serve fails at once, naming the object.
  - A refusal by an admission webhook (cert-manager's and MetalLB's refuse until their pods are ready) is retried
    every O(api_delay) seconds up to O(api_timeout); any other refusal fails at once, naming the object.
  - Secret values never appear in the result or the diff (O(secrets[].string_data) is no_log).
  - The role homelab.platform.k8s_manifests uses it; it is a general module all the same.
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  objects:
    description: Kubernetes objects (apiVersion, kind, metadata.name, metadata.namespace when namespaced).
    type: list
    elements: dict
    default: []
  manifests:
    description:
      - Rendered manifest files, each a YAML text of one or more documents (a document may be a list of objects),
        as C(kubectl apply -f) reads them. Their objects are applied after O(objects), in order.
      - The module parses them (with libyaml where PyYAML has it), so a large file costs the task no templating;
        a text that is not valid YAML fails the task before anything is applied.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  secrets:
    description: Secrets to apply after the Namespaces, their values never logged.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Secret name.
        type: str
        required: true
      namespace:
        description: Its namespace.
        type: str
        required: true
      labels:
        description: Its labels.
        type: dict
        default: {}
      type:
        description: Secret type.
        type: str
        default: Opaque
      string_data:
        description: Key -> value, written as stringData.
        type: dict
        required: true
  patches:
    description:
      - JSON merge patches of objects the cluster owns (K3s's packaged ones), applied only to an object that exists.
    type: list
    elements: dict
    default: []
    suboptions:
      api_version:
        description: apiVersion of the object.
        type: str
        default: v1
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Its name.
        type: str
        required: true
      namespace:
        description: Its namespace, when namespaced.
        type: str
      patch:
        description: The merge patch.
        type: dict
        required: true
  await_apis:
    description: APIs a chart installs ({api_version, kind}); objects that use them wait until they are served.
    type: list
    elements: dict
    default: []
  api_timeout:
    description: Seconds to wait for an awaited API, or for an admission webhook that refuses, before failing.
    type: int
    default: 120
  api_delay:
    description: Seconds between two attempts while waiting on an API or a webhook.
    type: int
    default: 5
  wait:
    description: After applying, wait until every Deployment, StatefulSet and DaemonSet among O(objects) is ready.
    type: bool
    default: false
  wait_timeout:
    description: Seconds O(wait) waits before failing, naming the workloads not ready.
    type: int
    default: 300
notes:
  - Strategic merge, as kubernetes.core.k8s applies by default; fields removed from a definition are not removed
    from the object (a list merged by key keeps the items the definition no longer has).
  - In check mode, a missing object is reported as created without a request; a patch is sent as a server-side
    dry run.
  - A kubeconfig with a client certificate or a token (file or data), or O(host) with O(api_key), is followed
    directly over HTTP(S) without importing the official client (about 0.6 s a run); credential plugins (exec,
    auth-provider), a proxy, several KUBECONFIG files and in-cluster configuration go through the client.
extends_documentation_fragment:
  - homelab.platform.k8s_auth
  - homelab.platform.check_mode_diff
requirements:
  - kubernetes (the Python client)
"""

EXAMPLES = r"""
- name: Namespace, the app's Secret and its manifests in one call
  homelab.platform.k8s_apply:
    objects: "{{ lookup('ansible.builtin.template', 'app.yaml.j2') | ansible.builtin.from_yaml_all | list }}"
    secrets:
      - name: app-secrets
        namespace: apps
        string_data:
          DB_PASSWORD: "{{ vault_app_db_password }}"

- name: The MetalLB pool once the chart has installed its CRDs (the module parses the rendered file)
  homelab.platform.k8s_apply:
    manifests:
      - "{{ lookup('ansible.builtin.template', 'metallb-pool.yaml.j2') }}"
    await_apis:
      - {api_version: metallb.io/v1beta1, kind: IPAddressPool}
    api_timeout: 300
"""

RETURN = r"""
objects:
  description: What was done to each object, in order (created, patched, unchanged; absent for a patch target).
  returned: always
  type: list
  elements: dict
  sample: [{kind: Namespace, name: apps, namespace: null, action: unchanged}]
"""

from ansible_collections.homelab.platform.plugins.module_utils import k8s_apply as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule


def main():
    argument_spec = dict(
        objects=dict(type="list", elements="dict", default=[]),
        manifests=dict(type="list", elements="str", default=[]),
        secrets=dict(type="list", elements="dict", default=[], no_log=False, options=dict(  # string_data is no_log
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            labels=dict(type="dict", default={}),
            type=dict(type="str", default="Opaque"),
            string_data=dict(type="dict", required=True, no_log=True),
        )),
        patches=dict(type="list", elements="dict", default=[], options=dict(
            api_version=dict(type="str", default="v1"),
            kind=dict(type="str", required=True),
            name=dict(type="str", required=True),
            namespace=dict(type="str"),
            patch=dict(type="dict", required=True),
        )),
        await_apis=dict(type="list", elements="dict", default=[]),
        api_timeout=dict(type="int", default=120),
        api_delay=dict(type="int", default=5),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
    )
    module = K8sModule(argument_spec, supports_check_mode=True)
    p = module.params
    bad = [a for a in p["await_apis"] if not a.get("api_version") or not a.get("kind")]
    if bad:
        module.fail_json(msg="await_apis takes {api_version, kind} entries, not %s" % bad)
    api = module.rest_api()
    try:
        result = core.apply(api, p["objects"], p["secrets"], p["patches"], check_mode=module.check_mode,
                            await_apis=p["await_apis"], api_timeout=p["api_timeout"], api_delay=p["api_delay"],
                            wait=p["wait"], wait_timeout=p["wait_timeout"], manifests=p["manifests"])
    except K8sError as exc:
        module.fail_from(exc)
    module.exit_with(result)


if __name__ == "__main__":
    main()

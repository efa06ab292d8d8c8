#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_get
short_description: Read one Kubernetes object, optionally waiting until fields of it are filled
description:
  - Reads the object O(kind) O(name) (in O(namespace) when the kind is namespaced) and returns it, or null when it
    does not exist.
  - With O(wait_for), the object must exist and every listed field hold a non-empty value (a ServiceAccount token
    Secret the token controller has not filled yet); it is read again every O(delay) seconds up to O(timeout), then
    the module fails, naming the fields still empty.
  - Reaches the API as M(homelab.platform.k8s_apply) does, straight over HTTP(S) when the kubeconfig allows it
    (ADR-018), so a read costs no import of the official client.
  - The object is returned whole; give a task that reads a Secret C(no_log).
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  api_version:
    description: The group version, e.g. V(v1) or V(apps/v1).
    type: str
    default: v1
  kind:
    description: The kind, e.g. V(Secret).
    type: str
    required: true
  name:
    description: The object's name.
    type: str
    required: true
  namespace:
    description: The namespace of a namespaced kind.
    type: str
  wait_for:
    description:
      - Dotted paths into the object that must hold a non-empty value, e.g. V(data.token); a key with dots is written
        as it is, V(data.ca.crt).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for the object, its fields and its kind; 0 reads once.
    type: int
    default: 0
  delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 2
extends_documentation_fragment:
  - homelab.platform.k8s_auth
  - homelab.platform.check_mode_diff.read_only
requirements:
  - kubernetes (the Python client), only for the kubeconfigs the direct path does not read (ADR-018)
"""

EXAMPLES = r"""
- name: Read the ServiceAccount token, once the token controller filled it
  homelab.platform.k8s_get:
    kind: Secret
    namespace: ml
    name: gpu-mode-switcher-token
    wait_for: [data.token, data.ca.crt]
    timeout: 20
  delegate_to: localhost
  register: token
  no_log: true
"""

RETURN = r"""
exists:
  description: Whether the object exists.
  returned: always
  type: bool
  sample: true
object:
  description: The object as the server returns it; null when it does not exist.
  returned: always
  type: dict
  sample: {apiVersion: v1, kind: Secret, metadata: {name: gpu-mode-switcher-token, namespace: ml}}
"""

from ansible_collections.homelab.platform.plugins.module_utils.k8s_apply import get_object
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule


def main():
    argument_spec = dict(
        api_version=dict(type="str", default="v1"),
        kind=dict(type="str", required=True),
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
        wait_for=dict(type="list", elements="str", default=[]),
        timeout=dict(type="int", default=0),
        delay=dict(type="int", default=2),
    )
    module = K8sModule(argument_spec, supports_check_mode=True)
    p = module.params
    api = module.rest_api()
    try:
        obj = get_object(api, p["api_version"], p["kind"], p["name"], p["namespace"], p["wait_for"], p["timeout"],
                         p["delay"])
    except K8sError as exc:
        module.fail_from(exc)
    module.exit_json(changed=False, exists=obj is not None, object=obj)


if __name__ == "__main__":
    main()

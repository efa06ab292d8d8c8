#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_node_metadata
short_description: Give a K3s Node the inventory's labels and taints
description:
  - K3s applies C(node-label) and C(node-taint) only when a node registers. This module reads the Node O(name) and
    merges into it the patch filter P(homelab.platform.k3s_node_metadata_patch#filter) computes, in one module run
    (the k3s roles call it on every run from the controller).
  - What the inventory set is remembered in the annotations C(homelab.platform/managed-labels) and
    C(homelab.platform/managed-taints), so a label or taint removed from the inventory is removed from the Node,
    while those others set (K3s, a device plugin, a cordon) stay.
  - A Node that is not registered yet is read again every 5 seconds up to O(timeout); then the module fails,
    naming it.
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  name:
    description: The Node's name (C(k3s_node_name)).
    type: str
    required: true
  labels:
    description: Label to value, the labels the Node must carry (C(k3s_node_labels)).
    type: dict
    default: {}
  taints:
    description: Taints the Node must carry, in K3s's C(node-taint) form C(key[=value]:Effect) (C(k3s_node_taints)).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for the Node to register; 0 reads once.
    type: int
    default: 0
notes:
  - Check mode reads the Node and sends nothing; the diff shows its labels and taints before and after.
  - Reaches the API as M(homelab.platform.k8s_apply) does (straight over HTTP(S) when the kubeconfig allows it).
extends_documentation_fragment:
  - homelab.platform.k8s_auth
  - homelab.platform.check_mode_diff
requirements:
  - kubernetes (the Python client)
"""

EXAMPLES = r"""
- name: The GPU worker's labels and taints, from the controller
  homelab.platform.k3s_node_metadata:
    name: k3s-gpu-worker
    labels:
      homelab.platform/node-class: gpu
    taints:
      - nvidia.com/gpu=true:NoSchedule
    timeout: 300
  delegate_to: localhost
"""

RETURN = r"""
patch:
  description: The JSON merge patch sent (or, in check mode, that would be sent); null when the Node already matched.
  returned: always
  type: dict
  sample: {metadata: {labels: {homelab.platform/node-class: gpu}}}
"""

from ansible_collections.homelab.platform.plugins.module_utils import k3s_config
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        labels=dict(type="dict", default={}),
        taints=dict(type="list", elements="str", default=[]),
        timeout=dict(type="int", default=0),
    )
    module = K8sModule(argument_spec, supports_check_mode=True)
    p = module.params
    api = module.rest_api()
    try:
        result = k3s_config.reconcile_node(api, p["name"], p["labels"], p["taints"], check_mode=module.check_mode,
                                           timeout=p["timeout"])
    except K8sError as exc:
        module.fail_from(exc)
    except k3s_config.K3sConfigError as exc:
        module.fail_json(msg=str(exc))
    module.exit_with(result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_mode
short_description: Switch the shared GPU between ML inference modes and gaming
description:
  - Reads the mode from the C(gpu-mode) label of the vLLM Deployment (replicas 0 means C(gaming)).
  - C(gaming) scales the Deployment to 0 and waits until no vLLM pod remains.
  - A serving mode (C(ml), C(r1), or any mode defined in O(modes)) applies that mode's Deployment
    (Recreate strategy, so the old pod goes first) and waits until the new pod is Ready.
  - Waiting uses the Kubernetes watch API and ends on the event that reaches the goal; on timeout the module fails
    with the pods' phases and their last events, and the Deployment and its label stay as applied.
  - Already in the wanted mode, nothing changes. C(status) only reads.
  - The same core (module_utils/gpu_mode.py) drives the C(gpu-mode) command installed by the gpu_mode role.
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  mode:
    description: C(gaming), C(status), or a mode defined in O(modes) (C(ml) and C(r1) in the example inventory).
    type: str
    required: true
  modes:
    description:
      - Mode name -> the Deployment it applies (a full apps/v1 Deployment named O(deployment) in O(namespace),
        labelled C(gpu-mode=<mode>) on the Deployment and its pod template).
      - The annotation C(gpu-mode.homelab.platform/vram-mib) declares the VRAM the mode needs, for O(gpu).
      - Not needed for C(gaming) and C(status).
    type: dict
    default: {}
  namespace:
    description: Namespace of the vLLM Deployment.
    type: str
    default: ml
  deployment:
    description: Name of the vLLM Deployment.
    type: str
    default: vllm-server
  wait:
    description: Wait until the switch is complete (no pod left, or the new pod Ready).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait (a model load takes 60 to 90 seconds).
    type: int
    default: 300
  gpu:
    description:
      - One GPU as homelab.platform.nvidia_gpu_facts reports it (memory_total_mib, memory_used_mib, processes).
      - When given, a serving mode whose declared VRAM need does not fit fails before anything changes.
    type: dict
extends_documentation_fragment:
  - homelab.platform.k8s_auth
  - homelab.platform.check_mode_diff
"""

EXAMPLES = r"""
- name: Free the GPU for Steam
  homelab.platform.gpu_mode:
    mode: gaming

- name: Serve DeepSeek-R1, refusing if a game still holds the VRAM
  homelab.platform.gpu_mode:
    mode: r1
    modes: "{{ vllm_modes }}"
    gpu: "{{ nvidia_gpus[0] }}"
    wait_timeout: 180
"""

RETURN = r"""
previous_mode:
  description: Mode before the run (C(absent) when the Deployment did not exist).
  returned: always
  type: str
  sample: ml
mode:
  description: Mode after the run.
  returned: always
  type: str
  sample: gaming
replicas:
  description: Wanted vLLM replicas of the mode.
  returned: always
  type: int
  sample: 0
ready_replicas:
  description: Ready vLLM pods when the module returned.
  returned: always
  type: int
  sample: 0
duration_seconds:
  description: Time the run took, waiting included.
  returned: always
  type: float
  sample: 12.4
pods:
  description: The vLLM pods seen at the end of the wait (name, mode, phase, ready, terminating).
  returned: when it waited
  type: list
  elements: dict
"""

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_apply import DirectApi
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule


def main():
    argument_spec = dict(
        mode=dict(type="str", required=True),
        modes=dict(type="dict", default={}),
        namespace=dict(type="str", default=core.DEFAULT_NAMESPACE),
        deployment=dict(type="str", default=core.DEFAULT_DEPLOYMENT),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        gpu=dict(type="dict"),
    )
    module = K8sModule(argument_spec, supports_check_mode=True)
    p = module.params
    # Reading (status, or a check) needs two GETs: straight over HTTP(S) where the connection options allow it.
    connection = module.direct_connection() if p["mode"] == core.STATUS or module.check_mode else None
    api = core.ReadApi(DirectApi(connection)) if connection else core.KubernetesApi(module.api_client())
    try:
        result = core.switch(api, p["mode"], p["modes"], namespace=p["namespace"], deployment=p["deployment"],
                             wait=p["wait"], timeout=p["wait_timeout"], check_mode=module.check_mode, gpu=p["gpu"])
    except core.GpuModeError as exc:
        module.fail_from(exc)
    module.exit_with(result)


if __name__ == "__main__":
    main()

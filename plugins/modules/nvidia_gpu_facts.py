#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_gpu_facts
short_description: NVIDIA GPU facts from nvidia-smi (memory, utilization, processes holding VRAM)
description:
  - Runs C(nvidia-smi -q -x) and returns, per GPU, its name, UUID, driver and CUDA versions, memory total/used/free
    in MiB, utilization, temperature, and the processes holding memory (pid, name, MiB).
  - gpu-mode uses these facts to refuse starting vLLM while a game holds the VRAM.
  - Without a driver (no nvidia-smi, or nvidia-smi failing), it returns C(nvidia_gpus=[]) and the reason, not an error.
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  nvidia_smi:
    description: The nvidia-smi command.
    type: path
    default: nvidia-smi
extends_documentation_fragment:
  - homelab.platform.check_mode_diff.read_only
"""

EXAMPLES = r"""
- name: Read the GPUs
  homelab.platform.nvidia_gpu_facts:

- name: Refuse to load a model while a game holds the VRAM
  ansible.builtin.assert:
    that: nvidia_gpus[0].memory_free_mib > 9000
"""

RETURN = r"""
ansible_facts:
  description: GPU facts.
  returned: always
  type: dict
  contains:
    nvidia_gpus:
      description: One entry per GPU (name, uuid, pci_bus_id, driver_version, cuda_version, memory_total_mib,
        memory_used_mib, memory_free_mib, utilization_gpu_percent, utilization_memory_percent, temperature_c,
        power_draw_w, display_active, processes with pid, type, name, used_memory_mib).
      type: list
      elements: dict
    nvidia_driver_version:
      description: Driver version, or null without a driver.
      type: str
      sample: 535.261.03
    nvidia_gpus_reason:
      description: Why nvidia_gpus is empty, when it is.
      type: str
      sample: nvidia-smi not found (no NVIDIA driver installed)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.platform.plugins.module_utils import nvidia


def main():
    module = AnsibleModule(argument_spec=dict(nvidia_smi=dict(type="path", default="nvidia-smi")), supports_check_mode=True)
    facts = {"nvidia_gpus": [], "nvidia_driver_version": None, "nvidia_gpus_reason": None}
    binary = module.get_bin_path(module.params["nvidia_smi"])
    if binary is None:
        facts["nvidia_gpus_reason"] = "%s not found (no NVIDIA driver installed)" % module.params["nvidia_smi"]
        module.exit_json(changed=False, ansible_facts=facts)
    rc, out, err = module.run_command([binary, "-q", "-x"])
    if rc != 0:
        facts["nvidia_gpus_reason"] = "nvidia-smi failed (rc %s): %s" % (rc, (err or out).strip()[:500])
        module.exit_json(changed=False, ansible_facts=facts)
    try:
        parsed = nvidia.parse(out)
    except nvidia.NvidiaSmiError as exc:
        module.fail_json(msg="cannot read nvidia-smi's output: %s" % exc)
    facts["nvidia_gpus"] = parsed["gpus"]
    facts["nvidia_driver_version"] = parsed["driver_version"]
    if not parsed["gpus"]:
        facts["nvidia_gpus_reason"] = "the driver reports no GPU"
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()

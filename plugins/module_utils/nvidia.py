# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse `nvidia-smi -q -x` (the nvsmi_device XML) into plain GPU facts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET


class NvidiaSmiError(ValueError):
    """The document is not nvidia-smi's XML; the message says what is wrong."""


def _text(node, path, default=None):
    found = node.find(path) if node is not None else None
    if found is None or found.text is None:
        return default
    text = found.text.strip()
    return default if text in ("", "N/A", "[N/A]", "Not Supported", "[Not Supported]") else text


def _number(text, unit_pattern=r"(MiB|%|W|C|MHz)?"):
    """'12288 MiB' -> 12288, '7 %' -> 7; None when absent or not a number."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*" + unit_pattern + r"\s*", text)
    if not match:
        return None
    value = float(match.group(1))
    return int(value) if value.is_integer() else value


def parse(xml_text):
    """{'driver_version', 'cuda_version', 'gpus': [...]} from nvidia-smi -q -x output."""
    if not xml_text or not xml_text.strip():
        raise NvidiaSmiError("nvidia-smi printed nothing")
    try:
        root = ET.fromstring(xml_text.strip().encode())
    except ET.ParseError as exc:
        raise NvidiaSmiError("nvidia-smi -q -x output is not valid XML: %s" % exc) from exc
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiError("expected <nvidia_smi_log>, got <%s>" % root.tag)
    driver = _text(root, "driver_version")
    cuda = _text(root, "cuda_version")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        uuid = _text(gpu, "uuid")
        if not uuid:
            raise NvidiaSmiError("GPU %d has no <uuid>" % index)
        processes = []
        for proc in gpu.findall("processes/process_info"):
            processes.append({
                "pid": _number(_text(proc, "pid"), ""),
                "type": _text(proc, "type"),
                "name": _text(proc, "process_name"),
                "used_memory_mib": _number(_text(proc, "used_memory")),
            })
        total = _number(_text(gpu, "fb_memory_usage/total"))
        used = _number(_text(gpu, "fb_memory_usage/used"))
        free = _number(_text(gpu, "fb_memory_usage/free"))
        gpus.append({
            "index": index,
            "name": _text(gpu, "product_name"),
            "uuid": uuid,
            "pci_bus_id": gpu.get("id") or _text(gpu, "pci/pci_bus_id"),
            "driver_version": driver,
            "cuda_version": cuda,
            "memory_total_mib": total,
            "memory_used_mib": used,
            "memory_free_mib": free if free is not None else (total - used if total is not None and used is not None else None),
            "utilization_gpu_percent": _number(_text(gpu, "utilization/gpu_util")),
            "utilization_memory_percent": _number(_text(gpu, "utilization/memory_util")),
            "temperature_c": _number(_text(gpu, "temperature/gpu_temp")),
            "power_draw_w": _number(_text(gpu, "gpu_power_readings/instant_power_draw")
                                    or _text(gpu, "gpu_power_readings/power_draw")
                                    or _text(gpu, "power_readings/power_draw")),
            "display_active": _text(gpu, "display_active") == "Enabled",
            "processes": processes,
        })
    return {"driver_version": driver, "cuda_version": cuda, "gpus": gpus}

import os

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode, nvidia

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "nvidia")


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def test_desktop_card_with_a_game():
    doc = nvidia.parse(load("rtx3060_game.xml"))
    assert doc["driver_version"] == "535.261.03" and doc["cuda_version"] == "12.2"
    (gpu,) = doc["gpus"]
    assert gpu["name"] == "NVIDIA GeForce RTX 3060"
    assert gpu["uuid"] == "GPU-5f0c2a9e-1b7d-4e64-9a3c-7d21e8b04c11"
    assert (gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["memory_free_mib"]) == (12288, 5641, 6335)
    assert gpu["utilization_gpu_percent"] == 87 and gpu["temperature_c"] == 71 and gpu["power_draw_w"] == 148.32
    assert gpu["display_active"] is True
    assert [(p["pid"], p["type"], p["used_memory_mib"]) for p in gpu["processes"]] == [
        (1473, "G", 245), (1790, "G", 38), (7001, "C+G", 5204)]
    assert gpu["processes"][2]["name"].endswith("/factorio")


def test_the_game_blocks_r1_but_vllm_memory_counts_as_free():
    game = nvidia.parse(load("rtx3060_game.xml"))["gpus"][0]
    r1 = {"metadata": {"annotations": {gpu_mode.VRAM_ANNOTATION: "8704"}}}
    with pytest.raises(gpu_mode.GpuModeError, match="held by .*factorio \\(pid 7001, 5204 MiB\\)"):
        gpu_mode.vram_check(r1, game, "gaming")
    serving = nvidia.parse(load("rtx3060_vllm.xml"))["gpus"][0]
    assert serving["processes"][0]["name"] == "VLLM::EngineCore"
    assert gpu_mode.vram_check(r1, serving, "ml") == {"need_mib": 8704, "free_mib": 12288}


def test_idle_server_card_without_processes():
    (gpu,) = nvidia.parse(load("t4_idle.xml"))["gpus"]
    assert gpu["name"] == "Tesla T4" and gpu["memory_total_mib"] == 15360 and gpu["memory_used_mib"] == 3
    assert gpu["processes"] == [] and gpu["display_active"] is False
    assert gpu["pci_bus_id"] == "00000000:00:1E.0"


def test_not_available_values_are_none():
    (gpu,) = nvidia.parse(load("t4_idle.xml").replace("<gpu_temp>29 C</gpu_temp>", "<gpu_temp>N/A</gpu_temp>"))["gpus"]
    assert gpu["temperature_c"] is None


@pytest.mark.parametrize("text,message", [
    ("", "printed nothing"),
    (load("t4_idle.xml")[:700], "not valid XML"),
    ("<other/>", "expected <nvidia_smi_log>, got <other>"),
    ("<nvidia_smi_log><gpu id='0'><product_name>x</product_name></gpu></nvidia_smi_log>", "GPU 0 has no <uuid>"),
])
def test_malformed_documents(text, message):
    with pytest.raises(nvidia.NvidiaSmiError, match=message):
        nvidia.parse(text)


def test_no_gpu_attached():
    assert nvidia.parse("<nvidia_smi_log><driver_version>535.261.03</driver_version></nvidia_smi_log>")["gpus"] == []

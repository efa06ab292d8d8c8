"""homelab.platform.nvidia_gpu_facts through ansible-playbook, with the nvidia-smi stand-in."""

import json
import os
import subprocess
import sys

import yaml
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDIN = os.path.join(ROOT, "tests", "standins", "nvidia", "nvidia-smi")
FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures", "nvidia")


def facts(tmp_path, nvidia_smi, xml=None):
    playbook = tmp_path / "facts.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "tasks": [{"homelab.platform.nvidia_gpu_facts": {"nvidia_smi": nvidia_smi}}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    env.pop("NVIDIA_SMI_STANDIN_XML", None)
    if xml:
        env["NVIDIA_SMI_STANDIN_XML"] = os.path.join(FIXTURES, xml)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(playbook), "--check", "-e", "ansible_python_interpreter=" + sys.executable],
                          capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert not result.get("failed"), result
    return result["ansible_facts"]


def test_gpu_with_processes(tmp_path):
    out = facts(tmp_path, STANDIN, "rtx3060_game.xml")
    assert out["nvidia_driver_version"] == "535.261.03"
    assert out["nvidia_gpus"][0]["memory_free_mib"] == 6335
    assert out["nvidia_gpus"][0]["processes"][2]["pid"] == 7001


def test_no_driver_is_an_empty_list_with_a_reason(tmp_path):
    out = facts(tmp_path, "/nonexistent/nvidia-smi")
    assert out["nvidia_gpus"] == [] and "not found (no NVIDIA driver installed)" in out["nvidia_gpus_reason"]
    failing = facts(tmp_path, STANDIN)
    assert failing["nvidia_gpus"] == [] and "couldn't communicate with the NVIDIA driver" in failing["nvidia_gpus_reason"]

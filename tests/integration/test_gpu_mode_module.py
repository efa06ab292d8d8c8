"""homelab.platform.gpu_mode run by ansible-playbook against the emulated API.

The connection comes from K8S_AUTH_HOST, as with kubernetes.core modules.
"""

import json
import os
import subprocess
import sys

import yaml
from support.kube import FakeKubelet
from test_gpu_mode_emulated import MODES
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run(tmp_path, cluster, mode, *args, gpu=None):
    task = {"homelab.platform.gpu_mode": {"mode": mode, "modes": MODES, "wait_timeout": 20}}
    if gpu:
        task["homelab.platform.gpu_mode"]["gpu"] = gpu
    playbook = tmp_path / ("switch-%s.yml" % mode)
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "tasks": [task]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(playbook),
                           "-e", "ansible_python_interpreter=" + sys.executable, *args],
                          capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_switch_check_mode_diff_and_idempotence(tmp_path, cluster):
    with FakeKubelet(cluster):
        first = run(tmp_path, cluster, "ml")
        assert first["changed"] is True and first["mode"] == "ml" and first["ready_replicas"] == 1
        assert set(first) >= {"previous_mode", "mode", "replicas", "ready_replicas", "duration_seconds"}

        preview = run(tmp_path, cluster, "gaming", "--check", "--diff")
        assert preview["changed"] is True
        assert preview["diff"] == {"before": {"mode": "ml", "replicas": 1}, "after": {"mode": "gaming", "replicas": 0}}
        assert run(tmp_path, cluster, "status")["mode"] == "ml"  # check mode changed nothing

        assert run(tmp_path, cluster, "gaming")["changed"] is True
        again = run(tmp_path, cluster, "gaming")
        assert again["changed"] is False and again["mode"] == "gaming"


def test_module_vram_preflight_fails_before_changing(tmp_path, cluster):
    with FakeKubelet(cluster):
        run(tmp_path, cluster, "ml")
        run(tmp_path, cluster, "gaming")
        gpu = {"memory_total_mib": 12288, "memory_used_mib": 5300,
               "processes": [{"pid": 7001, "name": "factorio", "used_memory_mib": 5200}]}
        out = run(tmp_path, cluster, "r1", gpu=gpu)
        assert out["failed"] is True
        assert "not enough GPU memory for this mode: it needs 8704 MiB, 7088 of 12288 MiB are free" in out["msg"]
        assert run(tmp_path, cluster, "status")["mode"] == "gaming"


def test_module_unknown_mode_message(tmp_path, cluster):
    out = run(tmp_path, cluster, "turbo")
    assert out["failed"] is True and "unknown mode 'turbo'" in out["msg"]

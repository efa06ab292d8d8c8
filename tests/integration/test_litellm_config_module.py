"""homelab.platform.litellm_config through ansible-playbook: file and ConfigMap (emulated API)."""

import json
import os
import subprocess
import sys

import yaml
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = {
    "aliases": {
        "vllm-qwen": {"model": "openai/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://vllm-api.ml.svc.cluster.local:8000/v1",
                      "timeout": 30, "tier": "vllm"},
        "ollama-qwen": {"model": "ollama/qwen2.5:3b", "api_base": "http://ollama.ml.svc.cluster.local:11434", "timeout": 120},
        "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"},
    },
    "fallbacks": {"vllm-qwen": ["ollama-qwen"], "ollama-qwen": ["openai-gpt4o"]},
    "router_settings": {"disable_cooldowns": True, "num_retries": 0},
    "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
}


def run(tmp_path, cluster, args, *extra):
    playbook = tmp_path / "litellm.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "tasks": [{"homelab.platform.litellm_config": args}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url,
               K8S_AUTH_API_KEY="emulator-accepts-any-token")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(playbook), "-e", "ansible_python_interpreter=" + sys.executable, *extra],
                          capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_file_and_configmap_idempotent_with_check_mode_and_diff(tmp_path, cluster):
    args = dict(ARGS, dest=str(tmp_path / "config.yaml"), configmap={"name": "litellm-config", "namespace": "ml"})
    preview = run(tmp_path, cluster, args, "--check", "--diff")
    assert preview["changed"] is True and not (tmp_path / "config.yaml").exists()
    first = run(tmp_path, cluster, args)
    assert first["changed"] is True
    rendered = yaml.safe_load((tmp_path / "config.yaml").read_text())
    chains = sorted(rendered["router_settings"]["fallbacks"], key=str)
    assert chains == [{"ollama-qwen": ["openai-gpt4o"]}, {"vllm-qwen": ["ollama-qwen"]}]
    second = run(tmp_path, cluster, args)
    assert second["changed"] is False and second["checksum"] == first["checksum"]
    changed = run(tmp_path, cluster, dict(args, router_settings=dict(ARGS["router_settings"], num_retries=1)), "--diff")
    assert changed["changed"] is True and changed["checksum"] != first["checksum"]
    assert any("num_retries: 1" in d["after"] for d in changed["diff"])


def test_bad_input_names_the_item(tmp_path, cluster):
    out = run(tmp_path, cluster, dict(ARGS, fallbacks={"vllm-qwen": ["ollama"]}))
    assert out["failed"] is True
    assert out["msg"] == "fallbacks for 'vllm-qwen': target 'ollama' is not a defined alias"


def test_an_unreachable_api_fails_through_the_kubernetes_layer_with_what_was_tried(tmp_path, cluster):
    args = dict(ARGS, configmap={"name": "litellm-config", "namespace": "ml"}, host="http://127.0.0.1:9")
    out = run(tmp_path, cluster, args)
    assert out["failed"] is True and out["host"] == "http://127.0.0.1:9"
    assert out["msg"].startswith("cannot reach the Kubernetes API at http://127.0.0.1:9 to read the ConfigMap "
                                 "ml/litellm-config: ")
    assert out["checksum"] and "model_list" in out["config"]  # what would have been written is still reported

"""Three-tier fallback proven with the real LiteLLM proxy and a config rendered by litellm_config.

Backends are small local OpenAI- and Ollama-compatible servers (support/llm_backends.py).
"""

import json
import os
import subprocess
import sys
import urllib.error

import pytest
import yaml
from support.litellm_proxy import Proxy, litellm_bin
from support.llm_backends import OllamaCompatible, OpenAICompatible
from support import HANG_GUARD_SECONDS

from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core


def render(vllm, ollama, openai, workdir=None):
    """config.yaml as homelab.platform.litellm_config renders it (through ansible-playbook when workdir is given)."""
    aliases = {
        "vllm-qwen": {"model": "openai/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://127.0.0.1:%d/v1" % vllm.port,
                      "timeout": 30, "tier": "vllm"},
        "ollama-qwen": {"model": "ollama/qwen2.5:3b", "api_base": "http://127.0.0.1:%d" % ollama.port, "timeout": 120},
        "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY",
                         "extra": {"api_base": "http://127.0.0.1:%d/v1" % openai.port}},
    }
    args = dict(aliases=aliases, fallbacks={"vllm-qwen": ["ollama-qwen"], "ollama-qwen": ["openai-gpt4o"]},
                router_settings={"disable_cooldowns": True, "num_retries": 0},
                general_settings={"master_key": "os.environ/LITELLM_MASTER_KEY"})
    if workdir is None:
        config = core.build(**args)
        return core.render(config)[0]
    dest = os.path.join(workdir, "rendered.yaml")
    playbook = os.path.join(workdir, "render.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                         "tasks": [{"homelab.platform.litellm_config": dict(args, dest=dest)}]}], handle)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(root, ".cache", "collections"))
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", playbook,
                    "-e", "ansible_python_interpreter=" + sys.executable], check=True, capture_output=True, env=env,
                   timeout=HANG_GUARD_SECONDS)
    with open(dest, encoding="utf-8") as handle:
        return handle.read()


def test_vllm_then_ollama_then_openai_then_back(tmp_path):
    vllm, ollama, openai = OpenAICompatible("vllm").start(), OllamaCompatible("ollama").start(), OpenAICompatible("openai").start()
    vllm_port = vllm.port
    try:
        with Proxy(render(vllm, ollama, openai, workdir=str(tmp_path)), str(tmp_path)) as proxy:
            assert proxy.ask("vllm-qwen")[0] == "served by vllm"
            vllm.stop()  # gaming mode: vLLM at 0 replicas, connections refused
            content, seconds = proxy.ask("vllm-qwen")
            assert content == "served by ollama" and seconds < 5  # NFR65: failover detection under 5 s
            ollama.stop()
            assert proxy.ask("vllm-qwen")[0] == "served by openai"
            vllm = OpenAICompatible("vllm").start(port=vllm_port)  # back to ml mode: no cooldown to wait for
            assert proxy.ask("vllm-qwen")[0] == "served by vllm"
    finally:
        for backend in (vllm, ollama, openai):
            backend.stop()


def test_our_router_settings_allow_list_is_accepted_by_litellms_router():
    python = os.path.join(os.path.dirname(litellm_bin()), "python")
    out = subprocess.run([python, "-c", "import inspect, json, litellm; "
                          "print(json.dumps(sorted(inspect.signature(litellm.Router.__init__).parameters)))"],
                         capture_output=True, text=True, check=True, timeout=HANG_GUARD_SECONDS)
    accepted = set(json.loads(out.stdout))
    assert core.ROUTER_SETTINGS - accepted == set()


def test_wrong_master_key_is_refused(tmp_path):
    backends = [OpenAICompatible("vllm").start(), OllamaCompatible("ollama").start(), OpenAICompatible("openai").start()]
    try:
        with Proxy(render(*backends), str(tmp_path)) as proxy:
            import support.litellm_proxy as lp

            saved = lp.MASTER_KEY
            lp.MASTER_KEY = "sk-wrong"
            try:
                with pytest.raises(urllib.error.HTTPError) as err:
                    proxy.ask("vllm-qwen")
                assert err.value.code in (400, 401)
            finally:
                lp.MASTER_KEY = saved
    finally:
        for backend in backends:
            backend.stop()

"""Run the real LiteLLM proxy (PyPI litellm[proxy], `make litellm-venv`) on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import yaml
from . import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MASTER_KEY = os.environ.get("LITELLM_TEST_MASTER_KEY", "sk-test-master-%d" % os.getpid())


def litellm_bin():
    path = os.environ.get("LITELLM_BIN") or os.path.join(ROOT, ".cache", "litellm-venv", "bin", "litellm")
    if not os.path.exists(path):
        raise RuntimeError("the LiteLLM proxy is not installed at %s: run `make litellm-venv`" % path)
    return path


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proxy:
    def __init__(self, config, workdir):
        self.port = free_port()
        self.path = os.path.join(workdir, "config.yaml")
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.write(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
        self.log = os.path.join(workdir, "proxy.log")
        self.process = None

    def __enter__(self):
        env = dict(os.environ, LITELLM_MASTER_KEY=MASTER_KEY, OPENAI_API_KEY="sk-test-openai-key",
                   LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False")
        with open(self.log, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [litellm_bin(), "--config", self.path, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + HANG_GUARD_SECONDS  # ends as soon as the proxy answers
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the proxy exited with %s:\n%s" % (self.process.returncode, self.tail()))
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/health/liveliness" % self.port, timeout=2).close()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError("the proxy did not come up:\n%s" % self.tail())

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def tail(self):
        with open(self.log, encoding="utf-8") as handle:
            return handle.read()[-3000:]

    def ask(self, model, timeout=120):
        """(content, seconds) of one chat completion through the proxy."""
        request = urllib.request.Request(
            "http://127.0.0.1:%d/v1/chat/completions" % self.port,
            data=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + MASTER_KEY})
        start = time.monotonic()
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
        return body["choices"][0]["message"]["content"], time.monotonic() - start


def role_defaults():
    """roles/litellm/defaults/main.yml as data (its templated api_base values are replaced by the caller)."""
    with open(os.path.join(ROOT, "roles", "litellm", "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def defaults_config(vllm_url, ollama_url, cloud_url, vllm_timeout=None):
    """The config.yaml `litellm_config` renders from the role's defaults, with the tiers at local test backends
    (vLLM's and Ollama's Service URLs and the cloud provider's address are the only values replaced; vllm_timeout
    shortens the vLLM tier's timeout for a test of a hung vLLM)."""
    from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core

    defaults = role_defaults()
    aliases = {}
    for alias, spec in defaults["litellm_aliases"].items():
        spec = dict(spec)
        if "homelab_vllm_url" in str(spec.get("api_base")):
            spec["api_base"] = vllm_url
            spec["timeout"] = vllm_timeout or spec["timeout"]
        elif "homelab_ollama_url" in str(spec.get("api_base")):
            spec["api_base"] = ollama_url
        elif not spec.get("api_base"):
            spec["extra"] = dict(spec.get("extra") or {}, api_base=cloud_url)
        aliases[alias] = spec
    return core.rendered(aliases, defaults["litellm_fallbacks"], defaults["litellm_router_settings"],
                         defaults["litellm_litellm_settings"], defaults["litellm_general_settings"])["config"]


@contextlib.contextmanager
def three_tiers(workdir, vllm_timeout=None):
    """The real proxy on the role's default config with the three tiers as local test backends: yields
    (proxy, gpu, ollama, config) where gpu puts vLLM in the state each gpu-mode leaves it (llm_backends.Gpu)."""
    from .llm_backends import Gpu, OllamaCompatible, OpenAICompatible

    gpu, ollama, cloud = Gpu(), OllamaCompatible("ollama").start(), OpenAICompatible("cloud").start()
    config = defaults_config("http://127.0.0.1:%d/v1" % gpu.port, "http://127.0.0.1:%d" % ollama.port,
                             "http://127.0.0.1:%d/v1" % cloud.port, vllm_timeout=vllm_timeout)
    try:
        with Proxy(config, workdir) as proxy:
            yield proxy, gpu, ollama, yaml.safe_load(config)
    finally:
        gpu.stop()
        ollama.stop()
        cloud.stop()

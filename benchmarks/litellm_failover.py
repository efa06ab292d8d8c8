"""Benchmark: extra latency a `vllm-qwen` request pays while vLLM is down, through the real LiteLLM proxy.

Compares a request for `vllm-qwen` (vLLM down, so LiteLLM falls back to Ollama)
with a request sent to `ollama-qwen` directly, for:
  - refused: vLLM's port is closed (gaming mode, vLLM at 0 replicas);
  - hanging: vLLM accepts and never answers (bounded by the vLLM tier's timeout).
Runs our rendered defaults and, for the refused case, the seed's config as written
(litellm_settings fallbacks, no num_retries). Prints the figures; not a test.

Usage: LITELLM_BIN=... .venv/bin/python benchmarks/litellm_failover.py [--runs N] [--hang-timeout S]
"""

import argparse
import os
import statistics
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from support.litellm_proxy import Proxy  # noqa: E402
from support.llm_backends import OllamaCompatible, OpenAICompatible  # noqa: E402

from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core  # noqa: E402

# What roles/litellm renders by default (router side).
OURS = {"allowed_fails": 1, "cooldown_time": 30, "num_retries": 0}


def ours(vllm_port, ollama_port, openai_port, vllm_timeout):
    aliases = {
        "vllm-qwen": {"model": "openai/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://127.0.0.1:%d/v1" % vllm_port,
                      "timeout": vllm_timeout, "tier": "vllm"},
        "ollama-qwen": {"model": "ollama/qwen2.5:3b", "api_base": "http://127.0.0.1:%d" % ollama_port, "timeout": 120},
        "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY",
                         "extra": {"api_base": "http://127.0.0.1:%d/v1" % openai_port}},
    }
    config = core.build(aliases, {"vllm-qwen": ["ollama-qwen"], "ollama-qwen": ["openai-gpt4o"]}, dict(OURS), {},
                        {"master_key": "os.environ/LITELLM_MASTER_KEY"})
    return core.render(config, lambda d: yaml.safe_dump(d, sort_keys=False))[0]


def seed(vllm_port, ollama_port):
    """Seed 000's config as written (only the addresses point at the local backends)."""
    return yaml.safe_dump({
        "model_list": [
            {"model_name": "vllm-qwen", "litellm_params": {"model": "openai/Qwen/Qwen2.5-7B-Instruct-AWQ",
                                                           "api_base": "http://127.0.0.1:%d/v1" % vllm_port, "timeout": 30}},
            {"model_name": "ollama-qwen", "litellm_params": {"model": "ollama/qwen2.5:3b",
                                                             "api_base": "http://127.0.0.1:%d" % ollama_port, "timeout": 120}},
            {"model_name": "openai-gpt4o", "litellm_params": {"model": "gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"}},
        ],
        "litellm_settings": {"fallbacks": [{"vllm-qwen": ["ollama-qwen"]}, {"ollama-qwen": ["openai-gpt4o"]}],
                             "allowed_fails": 1, "cooldown_time": 30},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }, sort_keys=False)


def measure(make_config, break_vllm, runs, workdir):
    """(first vllm-qwen request after vLLM went down, median of the following ones, median direct ollama-qwen).

    The proxy is warm (both aliases served once) before vLLM goes down, as when
    gpu-mode switches to gaming under a running proxy.
    """
    vllm = OpenAICompatible("vllm").start()
    try:
        with Proxy(make_config(vllm.port), workdir) as proxy:
            for warm in range(2):
                assert proxy.ask("vllm-qwen")[0] == "served by vllm"
                proxy.ask("ollama-qwen")
            direct = statistics.median(proxy.ask("ollama-qwen")[1] for run in range(runs))
            break_vllm(vllm)
            first_content, first = proxy.ask("vllm-qwen")
            assert first_content == "served by ollama", first_content
            later = statistics.median(proxy.ask("vllm-qwen")[1] for run in range(runs))
    finally:
        vllm.hang = False
        vllm.stop()
    return first, later, direct


def refuse(backend):
    backend.stop()  # closed port: connection refused (vLLM at 0 replicas)


def hang(backend):
    backend.hang = True  # accepts, never answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hang-timeout", type=float, default=5.0, help="vLLM tier timeout for the hanging case (default 30 in the role)")
    args = parser.parse_args()
    ollama, openai = OllamaCompatible("ollama").start(), OpenAICompatible("openai").start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(("ours, refused", *measure(lambda p: ours(p, ollama.port, openai.port, 30), refuse, args.runs, workdir)))
            rows.append(("seed, refused", *measure(lambda p: seed(p, ollama.port), refuse, args.runs, workdir)))
            rows.append(("ours, hanging (timeout %gs)" % args.hang_timeout,
                         *measure(lambda p: ours(p, ollama.port, openai.port, args.hang_timeout), hang, args.runs, workdir)))
    finally:
        for backend in (ollama, openai):
            backend.stop()
    print("extra latency of vllm-qwen with vLLM down vs ollama-qwen directly (s); %d runs each" % args.runs)
    for name, first, later, direct in rows:
        print("  %-30s first request +%.3f   following requests (median) +%.3f   [direct %.3f]"
              % (name, first - direct, later - direct, direct))
    ours_refused = rows[0]
    print("goal: refused adds under 0.5 s -> %s" % ("met" if max(ours_refused[1], ours_refused[2]) - ours_refused[3] < 0.5 else "NOT met"))
    print("goal: hanging stays within the vLLM timeout (%gs) -> %s"
          % (args.hang_timeout, "met" if rows[2][1] - rows[2][3] <= args.hang_timeout + 1 else "NOT met"))


if __name__ == "__main__":
    main()

"""Benchmark: what a `vllm-qwen` request pays after each gpu-mode switch, through the real LiteLLM proxy.

The proxy runs the config the role renders from its defaults (tests/integration/support/litellm_proxy.py,
defaults_config); vLLM, Ollama and the cloud tier are the local test backends, vLLM in the state each mode
leaves it in (support/llm_backends.py, Gpu). For every switch of a sequence covering each pair of modes, it
measures the first request after the switch and the median of the following ones, against the same request
sent straight to the tier that answers (ollama-qwen directly in r1 and gaming; vllm-qwen in steady ml mode).
Then the hung case: vLLM accepts and never answers, bounded by the vLLM tier's timeout.
Prints the figures and whether the goals hold (first request after a switch < 100 ms extra, issue 37);
not a test.

Usage: LITELLM_BIN=... .venv/bin/python benchmarks/litellm_failover.py [--runs N] [--hang-timeout S]
"""

import argparse
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from support.litellm_proxy import litellm_bin, three_tiers  # noqa: E402

SEQUENCE = ["gaming", "ml", "r1", "ml", "gaming", "r1", "gaming", "ml"]
GOAL_SECONDS = 0.100


def version():
    import subprocess

    python = os.path.join(os.path.dirname(litellm_bin()), "python")
    return subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def switches(runs, workdir):
    rows = []
    with three_tiers(workdir) as (proxy, gpu, _ollama, _config):
        for _warm in range(3):
            proxy.ask("vllm-qwen")
            proxy.ask("ollama-qwen")
        baseline = {"vllm": statistics.median(proxy.ask("vllm-qwen")[1] for _run in range(runs)),
                    "ollama": statistics.median(proxy.ask("ollama-qwen")[1] for _run in range(runs))}
        previous = "ml"
        for mode in SEQUENCE:
            gpu.switch(mode)
            content, first = proxy.ask("vllm-qwen")
            later = statistics.median(proxy.ask("vllm-qwen")[1] for _run in range(runs))
            tier = content.replace("served by ", "")
            rows.append(("%s -> %s" % (previous, mode), tier, first - baseline[tier], later - baseline[tier],
                         baseline[tier]))
            previous = mode
    return rows


def hung(hang_timeout, workdir):
    with three_tiers(workdir, vllm_timeout=hang_timeout) as (proxy, gpu, _ollama, _config):
        proxy.ask("vllm-qwen")
        gpu.switch("hung")
        content, seconds = proxy.ask("vllm-qwen", timeout=hang_timeout * 10)
    return content.replace("served by ", ""), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hang-timeout", type=float, default=5.0,
                        help="vLLM tier timeout for the hung case (30 in the role's defaults)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        rows = switches(args.runs, workdir)
        hung_tier, hung_seconds = hung(args.hang_timeout, workdir)
    print("LiteLLM %s, the role's default config; extra seconds over the answering tier asked directly (%d runs)"
          % (version(), args.runs))
    for name, tier, first, later, base in rows:
        print("  %-16s answered by %-7s first request %+.3f   following (median) %+.3f   [direct %.3f]"
              % (name, tier, first, later, base))
    worst = max(first for _name, _tier, first, _later, _base in rows)
    print("  hung vLLM (timeout %gs): answered by %s after %.2f s" % (args.hang_timeout, hung_tier, hung_seconds))
    print("goal: first request after a switch < %d ms extra -> %s (worst %+.0f ms)"
          % (GOAL_SECONDS * 1000, "met" if worst < GOAL_SECONDS else "NOT met", worst * 1000))
    print("goal: hung vLLM ends at Ollama within its timeout -> %s"
          % ("met" if hung_tier == "ollama" and hung_seconds <= args.hang_timeout + 1 else "NOT met"))


if __name__ == "__main__":
    main()

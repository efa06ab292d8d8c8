"""Benchmark: gpu-mode switch overhead, ours (watch API) vs the seed's polling loop.

Overhead = the time from the last vLLM pod disappearing (gaming) or the new pod
becoming Ready (ml) to the switch returning. Both run against the same emulated
API (kmock) with the same fake kubelet (tests/integration/support/kube.py).
The seed's loop is reproduced in Python, with its 2 s period, because kubectl
cannot read kmock's list responses:

    kubectl scale deployment vllm-server -n ml --replicas=0
    while [[ $(kubectl get pods -n ml -l app=vllm-server | wc -l) -gt 0 ]]; do sleep 2; done

Usage: .venv/bin/python benchmarks/gpu_mode_switch.py [--runs N]   (prints the figures; not a test)
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from support.kube import EmulatedCluster, FakeKubelet  # noqa: E402
from test_gpu_mode_emulated import MODES  # noqa: E402

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core  # noqa: E402


def last(kubelet, what, after):
    """The fake kubelet's time of the last `what` since `after` (it records right after its API call)."""
    deadline = time.monotonic() + 2
    while True:
        times = [t for t, name in kubelet.events(what) if t >= after]
        if times or time.monotonic() > deadline:
            return max(times)
        time.sleep(0.005)


def ours_gaming(api, kubelet):
    core.switch(api, "ml", MODES, timeout=30)
    start = time.monotonic()
    core.switch(api, "gaming", MODES, timeout=30)
    returned = time.monotonic()
    return returned - last(kubelet, "deleted", start)


def ours_ml(api, kubelet):
    core.switch(api, "gaming", MODES, timeout=30)
    start = time.monotonic()
    core.switch(api, "ml", MODES, timeout=30)
    returned = time.monotonic()
    return returned - last(kubelet, "ready", start)


def seed_gaming(api, kubelet):
    core.switch(api, "ml", MODES, timeout=30)
    start = time.monotonic()
    api.patch_deployment("ml", "vllm-server", {"spec": {"replicas": 0}})  # kubectl scale --replicas=0
    while True:
        pods, _rv = api.list_pods("ml")  # kubectl get pods -n ml -l app=vllm-server
        if not [p for p in pods if (p["metadata"].get("labels") or {}).get("app") == "vllm-server"]:
            break
        time.sleep(2)
    returned = time.monotonic()
    return returned - last(kubelet, "deleted", start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cluster = EmulatedCluster()
    try:
        api = core.KubernetesApi(cluster.api_client())
        figures = {}
        with FakeKubelet(cluster, ready_delay=0.5, terminate_delay=0.7, period=0.02) as kubelet:
            for name, func in (("ours, gaming", ours_gaming), ("ours, ml", ours_ml), ("seed loop, gaming", seed_gaming)):
                figures[name] = [func(api, kubelet) for run in range(args.runs)]
        print("gpu-mode switch overhead (s) after the last pod is gone / the new pod is Ready; %d runs each" % args.runs)
        for name, values in figures.items():
            print("  %-18s median %.3f  min %.3f  max %.3f" % (name, statistics.median(values), min(values), max(values)))
        ours = statistics.median(figures["ours, gaming"])
        seed = statistics.median(figures["seed loop, gaming"])
        print("ratio seed/ours (gaming medians): %.1fx" % (seed / ours if ours > 0 else float("inf")))
        print("goal: ours under 0.200 s median -> %s" % ("met" if max(ours, statistics.median(figures["ours, ml"])) < 0.2 else "NOT met"))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

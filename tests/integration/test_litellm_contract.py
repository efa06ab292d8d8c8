"""The three-tier contract (issue 37), proven with the real LiteLLM proxy on the config the role renders by default.

vllm-qwen is answered by the tier the GPU's mode implies: vLLM in `ml`; Ollama in `r1` (vLLM answers 404 for
Qwen while it serves R1) and in `gaming` (vLLM at 0 replicas: connection refused) and while vLLM restarts
between modes; the cloud only when Ollama is down too. Never the cloud while a local tier answers, from the
first request after a switch, in every sequence of modes, and `litellm_config.route` (what `gpu-mode status`
says) names the same tier.

Runs on the LiteLLM of `litellm_version` (make test) and on the newest release the package index offers
(`make litellm-newest`, LITELLM_BIN pointing at that install).
"""

import concurrent.futures
import os
import subprocess
import threading

import pytest
from support import HANG_GUARD_SECONDS
from support.litellm_proxy import litellm_bin, role_defaults, three_tiers
from support.llm_backends import SERVES

from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core

TIER_OF = {"vllm-qwen": "vllm", "ollama-qwen": "ollama", "openai-gpt4o": "cloud"}


@pytest.fixture(name="tiers")
def fixture_tiers(tmp_path):
    with three_tiers(str(tmp_path)) as tiers:
        yield tiers


def expected(mode, ollama_up=True):
    if mode == "ml":
        return "vllm"
    return "ollama" if ollama_up else "cloud"


def answered_by(proxy, alias="vllm-qwen", timeout=120):
    content, _seconds = proxy.ask(alias, timeout=timeout)
    assert content.startswith("served by "), content
    return content[len("served by "):]


def test_each_request_is_answered_by_the_tier_the_mode_implies(tiers):
    proxy, gpu, ollama, config = tiers
    sequence = (["ml", "restarting", "r1", "restarting", "gaming", "restarting", "ml"]  # ml -> r1 -> gaming -> ml
                + ["gaming", "r1"] * 2 + ["ml", "r1", "ml", "gaming", "ml"])          # gaming -> r1, repeated switches
    seen = []
    for mode in sequence:
        gpu.switch(mode)
        route = core.route(config, "vllm-qwen", SERVES[mode])
        for request in range(5):  # the first request after the switch, and the ones after it
            tier = answered_by(proxy)
            seen.append((mode, request, tier))
            assert tier == expected(mode), "request %d in %s mode was answered by %s (sequence so far: %s)" % (
                request, mode, tier, seen)
            assert TIER_OF[route["reaches"]] == tier, "gpu-mode status would name %s" % route["reaches"]
    ollama.stop()  # both local tiers gone: the cloud answers, then vLLM again as soon as it serves Qwen
    for mode in ("gaming", "r1", "ml"):
        gpu.switch(mode)
        for request in range(3):
            assert answered_by(proxy) == expected(mode, ollama_up=False), (mode, request)


def test_a_hung_vllm_costs_its_timeout_and_still_ends_at_ollama(tmp_path):
    # The vLLM tier's timeout (30 s in the defaults, 3 s here) bounds the wait; Ollama answers, not the cloud.
    with three_tiers(str(tmp_path), vllm_timeout=3) as (proxy, gpu, _ollama, _config):
        gpu.switch("hung")
        assert answered_by(proxy) == "ollama"
        assert answered_by(proxy) == "ollama"
        gpu.switch("ml")
        assert answered_by(proxy) == "vllm"


def test_concurrent_clients_across_switches_all_get_a_local_answer(tiers):
    proxy, gpu, _ollama, _config = tiers
    done = threading.Event()
    answers = []

    def client():
        while not done.is_set():
            answers.append(answered_by(proxy))

    gpu.delay = gpu.vllm.delay = 0.2  # requests are in flight when a switch takes the pod away
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _client in range(4)]
        for mode in ["r1", "restarting", "gaming", "restarting", "ml", "gaming", "ml", "r1", "ml"]:
            before = len(answers)
            gpu.switch(mode)
            while len(answers) < before + 8 and not any(f.done() for f in futures):
                done.wait(0.05)  # polls the clients' progress, a condition; no fixed wait
        done.set()
        for future in futures:
            future.result()  # a failed request raises here
    assert answers and set(answers) <= {"vllm", "ollama"}, sorted(set(answers))


def test_the_litellm_under_test_is_the_one_the_role_deploys():
    """make test runs the contract on `litellm_version` (the image tag and the test pin are one value);
    `make litellm-newest` runs it on the newest release and says which."""
    python = os.path.join(os.path.dirname(litellm_bin()), "python")
    version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True, check=True, timeout=HANG_GUARD_SECONDS).stdout.strip()
    defaults = role_defaults()
    print("LiteLLM under test: %s (the role deploys %s)" % (version, defaults["litellm_version"]))
    assert defaults["litellm_image"].endswith(":main-v{{ litellm_version }}")
    if os.environ.get("LITELLM_UNDER_TEST") != "newest":
        assert version == str(defaults["litellm_version"])

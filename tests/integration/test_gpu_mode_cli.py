"""The gpu-mode command (module_utils/gpu_mode_cli.py) against the emulated API."""

import io
import json
import os
import threading

import pytest
import yaml
from support.kube import FakeKubelet
from test_gpu_mode_emulated import MODES

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core
from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode_cli as cli


@pytest.fixture
def node(tmp_path, cluster):
    """The files the gpu_mode role installs on the GPU worker, in a temporary folder."""
    modes = tmp_path / "modes"
    modes.mkdir()
    for name, body in MODES.items():
        (modes / ("%s.yaml" % name)).write_text(yaml.safe_dump(body))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": cluster.url}}],
        "users": [{"name": "lab", "user": {"token": "not-checked-by-the-emulator"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
    }))
    config = tmp_path / "config"
    config.write_text("DEFAULT_MODE=ml\nMODES_DIR=%s\nKUBECONFIG=%s\nTIMEOUT=20\nAPI_WAIT=5\n" % (modes, kubeconfig))
    api = core.KubernetesApi(cluster.api_client())
    try:
        api._apps.delete_namespaced_deployment("vllm-server", "ml")
    except Exception:
        pass
    return {"config": str(config), "state": str(tmp_path / "choice")}


def run(node, *args, api=None):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--config", node["config"], *args], out=out, err=err, state_file=node["state"], api=api,
                    sleep=lambda s: None)
    return code, out.getvalue(), err.getvalue()


def test_switches_with_progress_and_remembers(cluster, node):
    with FakeKubelet(cluster, ready_delay=0.4):
        code, out, err = run(node, "ml")
        assert code == 0, err
        assert out.startswith("ML mode (1/1 ready) - switched from absent in ")
        assert "Pending" in err and "Ready" in err and err.splitlines()[0].startswith("[")

        code, out, err = run(node, "gaming")
        assert (code, out.split(" - ")[0]) == (0, "Gaming mode: vLLM scaled to 0, GPU free")
        assert open(node["state"]).read().strip() == "gaming"

        code, out, err = run(node, "status", "--json")
        assert code == 0 and json.loads(out)["mode"] == "gaming" and json.loads(out)["changed"] is False


def test_boot_keeps_gaming_when_it_was_chosen(cluster, node):
    with FakeKubelet(cluster):
        run(node, "ml")
        run(node, "gaming")
        code, out, err = run(node, "boot")
        assert code == 0 and "keeping gaming" in err
        assert core.state_of(core.KubernetesApi(cluster.api_client()).get_deployment("ml", "vllm-server"))["mode"] == "gaming"
        run(node, "ml")
        code, out, err = run(node, "boot")
        assert code == 0 and "default mode ml" in err and out.startswith("ML mode (1/1 ready)")


def test_exit_codes(cluster, node):
    code, out, err = run(node, "turbo")
    assert code == core.EXIT_USAGE and "unknown mode 'turbo'" in err
    with FakeKubelet(cluster, never_ready={"r1"}):
        run(node, "ml")
        code, out, err = run(node, "r1", "--timeout", "1")
        assert code == core.EXIT_TIMEOUT and "timed out after 1s" in err


def test_boot_waits_for_the_api_then_reports(node, tmp_path):
    config = tmp_path / "dead.conf"
    config.write_text(open(node["config"]).read().replace("KUBECONFIG=", "#") + "KUBECONFIG=%s\n" % (tmp_path / "dead-kubeconfig"))
    (tmp_path / "dead-kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
    }))
    out, err = io.StringIO(), io.StringIO()
    now = [0.0]
    code = cli.main(["--config", str(config), "boot"], out=out, err=err, state_file=node["state"],
                    sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert code == core.EXIT_API
    assert "waiting for the Kubernetes API" in err.getvalue()
    assert "did not answer within 5s" in err.getvalue()


def test_vram_preflight_from_the_local_nvidia_smi(cluster, node, monkeypatch):
    """A game holds 5 GB: `gpu-mode r1` refuses with exit code 5 and changes nothing."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with FakeKubelet(cluster):
        run(node, "ml")
        run(node, "gaming")
        # Now a game starts and holds the VRAM.
        monkeypatch.setenv("NVIDIA_SMI_STANDIN_XML", os.path.join(root, "tests", "unit", "fixtures", "nvidia", "rtx3060_game.xml"))
        with open(node["config"], "a", encoding="utf-8") as handle:
            handle.write("NVIDIA_SMI=%s\n" % os.path.join(root, "tests", "standins", "nvidia", "nvidia-smi"))
        code, out, err = run(node, "status")
        assert code == 0 and "GPU memory: 5641 of 12288 MiB in use; held by" in out
        assert "/Factorio/bin/x64/factorio (pid 7001, 5204 MiB)" in out
        holders = json.loads(run(node, "status", "--json")[1])["gpu"]["processes"]
        assert 7001 in [p["pid"] for p in holders]
        code, out, err = run(node, "r1")
        assert code == core.EXIT_VRAM
        assert "not enough GPU memory" in err and "factorio (pid 7001, 5204 MiB)" in err
        assert core.state_of(core.KubernetesApi(cluster.api_client()).get_deployment("ml", "vllm-server"))["mode"] == "gaming"


def deployment_replicas_probe(cluster, out_file):
    """A 'game' that records the vLLM Deployment's replicas as it sees them while it runs."""
    import sys

    code = ("import json, urllib.request, sys; "
            "d = json.load(urllib.request.urlopen(%r)); "
            "open(%r, 'w').write(str(d['spec']['replicas']))"
            % (cluster.url + "/apis/apps/v1/namespaces/ml/deployments/vllm-server", str(out_file)))
    return [sys.executable, "-c", code]


def test_run_games_in_gaming_mode_passes_the_exit_code_and_restores(cluster, node, tmp_path):
    seen = tmp_path / "replicas-during-game"
    with FakeKubelet(cluster):
        assert run(node, "ml")[0] == 0
        code, out, err = run(node, "run", "--", "sh", "-c", '"$0" "$@" && exit 3', *deployment_replicas_probe(cluster, seen))
        assert code == 3, err
        assert seen.read_text() == "0"  # vLLM was at 0 replicas while the game ran
        assert "gaming mode for sh (was ml)" in err and "restored ml mode" in err
        code, out, err = run(node, "status", "--json")
        assert json.loads(out)["mode"] == "ml" and json.loads(out)["ready_replicas"] == 1
        assert open(node["state"]).read().strip() == "ml"  # the remembered choice is untouched


def test_run_restores_after_a_game_killed_by_a_signal(cluster, node):
    with FakeKubelet(cluster):
        run(node, "r1")
        code, out, err = run(node, "run", "--", "sh", "-c", "kill -9 $$")
        assert code == 128 + 9
        assert json.loads(run(node, "status", "--json")[1])["mode"] == "r1"


class Games:
    """Games started through `gpu-mode run` in threads, each a shell that says it is up through one
    FIFO and ends when a line arrives on another: the test decides when each game ends, no timing."""

    def __init__(self, node, tmp_path):
        self.node, self.tmp_path = node, tmp_path
        self.results, self.running = {}, {}

    def start(self, name):
        started, stop = (str(self.tmp_path / ("%s-%s" % (name, what))) for what in ("started", "stop"))
        os.mkfifo(started)
        os.mkfifo(stop)
        thread = threading.Thread(target=lambda: self.results.__setitem__(
            name, run(self.node, "run", "--", "sh", "-c", 'echo up > "$0"; read line < "$1"', started, stop)))
        thread.start()
        with open(started, encoding="utf-8") as handle:  # returns once the game is running
            handle.read()
        self.running[name] = (thread, stop)

    def finish(self, name):
        thread, stop = self.running.pop(name)
        with open(stop, "w", encoding="utf-8") as handle:
            handle.write("bye\n")
        thread.join(60)
        assert not thread.is_alive()
        return self.results[name]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # A failed assertion must not leave a game waiting forever.
        for _thread, stop in self.running.values():
            try:
                os.close(os.open(stop, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


def current_mode(node):
    return json.loads(run(node, "status", "--json")[1])["mode"]


def test_several_games_keep_gaming_until_the_last_exits(cluster, node, tmp_path):
    with FakeKubelet(cluster), Games(node, tmp_path) as games:
        run(node, "ml")
        games.start("first")
        games.start("second")
        assert current_mode(node) == "gaming"
        assert games.finish("first")[0] == 0 and current_mode(node) == "gaming"  # the second game still runs
        assert games.finish("second")[0] == 0 and current_mode(node) == "ml"


def test_a_mode_chosen_during_the_game_stands(cluster, node, tmp_path):
    with FakeKubelet(cluster), Games(node, tmp_path) as games:
        run(node, "ml")
        games.start("game")
        assert run(node, "r1")[0] == 0
        code, _out, err = games.finish("game")
        assert code == 0 and current_mode(node) == "r1" and "mode changed during the game (now r1)" in err


def test_run_without_a_command_is_a_usage_error(node):
    code, out, err = run(node, "run")
    assert code == core.EXIT_USAGE and "run needs a command" in err


def litellm_configmap(cluster, text):
    """The ConfigMap the litellm role writes (name, namespace and key of its defaults)."""
    core_api = core.KubernetesApi(cluster.api_client())._core
    body = {"metadata": {"name": "litellm-config", "namespace": "ml"}, "data": {"config.yaml": text}}
    if any(item.metadata.name == "litellm-config" for item in core_api.list_namespaced_config_map("ml").items):
        core_api.patch_namespaced_config_map("litellm-config", "ml", {"data": body["data"]})
    else:
        core_api.create_namespaced_config_map("ml", body)


def test_status_names_the_litellm_tier_vllm_qwen_requests_reach_in_each_mode(cluster, node):
    """From LiteLLM's own config.yaml (the litellm role's defaults, rendered by litellm_config) and the model
    the mode's vLLM serves: ml answers vllm-qwen itself; r1 serves another model and gaming none, so the
    requests fall back to ollama-qwen."""
    import importlib.util

    from ansible_collections.homelab.platform.plugins.module_utils import litellm_config

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location("unit_litellm", os.path.join(
        root, "tests", "unit", "plugins", "module_utils", "test_litellm_config.py"))
    unit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unit)
    with FakeKubelet(cluster):
        code, out, err = run(node, "ml")
        assert code == 0, err
        code, out, err = run(node, "status")  # no LiteLLM yet: said, and status still answers
        assert code == 0 and "LiteLLM: where vllm-qwen requests go is not known: no ConfigMap ml/litellm-config" in out
        litellm_configmap(cluster, litellm_config.render(unit.build())[0])
        code, out, err = run(node, "status")
        assert code == 0 and out.splitlines()[-1] == (
            "LiteLLM: vllm-qwen requests reach vLLM on this GPU (if it fails: ollama-qwen, openai-gpt4o)"), out
        for mode in ("r1", "gaming"):
            assert run(node, mode)[0] == 0
            code, out, err = run(node, "status")
            assert code == 0 and out.splitlines()[-1] == (
                "LiteLLM: vllm-qwen requests fall back to ollama-qwen (vllm-qwen not served in this mode) "
                "(if it fails: openai-gpt4o)"), out
            tier = json.loads(run(node, "status", "--json")[1])["litellm"]
            assert tier == {"alias": "vllm-qwen", "reaches": "ollama-qwen", "skipped": ["vllm-qwen"],
                            "then": ["openai-gpt4o"]}
        litellm_configmap(cluster, "model_list: [")  # broken: said, not fatal
        code, out, err = run(node, "status")
        assert code == 0 and "LiteLLM: where vllm-qwen requests go is not known: " in out

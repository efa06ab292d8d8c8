"""The gpu-mode command (module_utils/gpu_mode_cli.py) against the emulated API."""

import io
import json

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
        assert (code, out.split(" - ")[0]) == (0, "Gaming mode: vLLM scaled to 0, GPU free (LiteLLM falls back to Ollama)")
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
        code, out, err = run(node, "r1")
        assert code == core.EXIT_VRAM
        assert "not enough GPU memory" in err and "factorio (pid 7001, 5204 MiB)" in err
        assert core.state_of(core.KubernetesApi(cluster.api_client()).get_deployment("ml", "vllm-server"))["mode"] == "gaming"

"""Helpers to run the real ansible-playbook against the local machine."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/integration/support
from support import HANG_GUARD_SECONDS  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run_playbook(playbook, inventory, *args, json_out=False, env=None):
    """ansible-playbook with the checkout as the collection (`env` adds or overrides variables)."""
    extra, env = env or {}, dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
    )
    env.update(extra)
    if json_out:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), str(playbook),
           "-e", "ansible_python_interpreter=" + sys.executable, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS, check=False)
    if json_out:
        proc.json = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
    return proc


@pytest.fixture(scope="module")
def cluster():
    """An emulated Kubernetes API (kmock) for the tests of one module."""
    from support.kube import EmulatedCluster

    emulated = EmulatedCluster()
    yield emulated
    emulated.stop()


@pytest.fixture
def playbook_runner():
    return run_playbook

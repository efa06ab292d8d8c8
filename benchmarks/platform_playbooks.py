"""How long the platform epic playbooks take: first apply and the no-change re-run,
against the emulated Kubernetes API (kmock), from the controller.

    .venv/bin/python benchmarks/platform_playbooks.py

The figures are the controller's own cost (templating, the seed 002 check, one
kubernetes.core.k8s call per file); on a real cluster add the API round trips and,
for the chart-based epics, the helm-controller's install time.
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from support.kube import EmulatedCluster  # noqa: E402
from test_platform_emulated import EPICS, FAST, SECRETS  # noqa: E402

BIN = os.path.dirname(sys.executable)


def run(cluster, playbook):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url,
               K8S_AUTH_API_KEY="emulator-accepts-any-token")
    start = time.monotonic()
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", playbook), "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", "@" + SECRETS, "-e", FAST], capture_output=True, text=True, env=env, check=True)
    elapsed = time.monotonic() - start
    return elapsed, json.loads(proc.stdout)["stats"]["localhost"]["changed"]


def main():
    cluster = EmulatedCluster()
    total = [0.0, 0.0]
    print("%-28s %10s %8s %10s %8s" % ("playbook", "first s", "changed", "re-run s", "changed"))
    try:
        for playbook in sorted(EPICS):
            first, first_changed = run(cluster, playbook)
            again, again_changed = run(cluster, playbook)
            total[0] += first
            total[1] += again
            print("%-28s %10.2f %8d %10.2f %8d" % (playbook, first, first_changed, again, again_changed))
    finally:
        cluster.stop()
    print("%-28s %10.2f %8s %10.2f" % ("all platform epics", total[0], "", total[1]))


if __name__ == "__main__":
    main()

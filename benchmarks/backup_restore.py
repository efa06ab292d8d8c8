"""Wall time of playbooks/backup.yml and playbooks/restore.yml on a running lab.

Bring up the 3-server lab first, then point this at Molecule's inventory for it:

    molecule create -s ha && molecule prepare -s ha && molecule converge -s ha
    .venv/bin/python benchmarks/backup_restore.py --inventory ~/.ansible/tmp/molecule.*.ha/inventory [--runs N]

Each run takes a backup, restores it (-e confirm=yes) and prints both times; the
restore stops K3s on every server, resets etcd on the first and rejoins the others
one at a time (real etcd in the k3s stand-in). Prints the figures; not a test.
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def playbook(inventory, book, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               LAB_ROOT=ROOT, ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    run = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(ROOT, "playbooks", book)] + list(extra),
                         capture_output=True, text=True, env=env, check=False)
    if run.returncode != 0:
        sys.exit("%s failed:\n%s" % (book, (run.stdout + run.stderr)[-3000:]))
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inventory", required=True, help="Molecule's inventory folder of the running ha lab")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    inventory = (glob.glob(os.path.expanduser(args.inventory)) or [args.inventory])[0]
    backups, restores = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            backup_dir = os.path.join(tmp, "run%d" % run)
            backups.append(playbook(inventory, "backup.yml", "-e", "k3s_backup_dir=" + backup_dir))
            snapshot = [f for f in os.listdir(backup_dir) if not f.endswith(".sha256")][0]
            restores.append(playbook(inventory, "restore.yml", "-e", "confirm=yes",
                                     "-e", "k3s_backup_dir=" + backup_dir,
                                     "-e", "k3s_restore_snapshot=" + os.path.join(backup_dir, snapshot)))
            print("run %d: backup.yml %.1f s, restore.yml %.1f s" % (run, backups[-1], restores[-1]))
    print("backup.yml:  median %.1f s (min %.1f, max %.1f) over %d runs"
          % (statistics.median(backups), min(backups), max(backups), len(backups)))
    print("restore.yml: median %.1f s (min %.1f, max %.1f) over %d runs"
          % (statistics.median(restores), min(restores), max(restores), len(restores)))


if __name__ == "__main__":
    main()

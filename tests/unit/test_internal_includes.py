"""ADR-021: an include or import between this collection's roles that skips the argument check
(rolespec_validate: false) leaves no value unchecked.

Each such call passes only variables its entry point's spec lists, and every option of that spec is either
passed by the call, checked by a spec that is validated on the same path (the calling role's own entry point,
the same role's `main` imported with its check in the same file, the homelab role every role depends on), or
named below as an input only this collection's roles set.
"""

import functools
import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "homelab.platform."
CALLS = ("ansible.builtin.include_role", "ansible.builtin.import_role")

# Entry points whose options only this collection's roles set, with the reason. Nothing else may be unchecked.
INTERNAL = {
    # k8s_manifests says so in its spec (internal): each epic role gives it the files it rendered; its first task
    # holds the include to its contract and the files to seed 002.
    ("k8s_manifests", "main"): "every option",
    # only k3s_server sets the drop-in of secret flags (the S3 keys, checked by k3s_server's spec as k3s_etcd_s3_*)
    ("k3s", "configure"): {"k3s_node_secret_config"},
}


@functools.lru_cache(maxsize=None)
def specs(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["argument_specs"]


def spec(role, entry="main"):
    return specs(role)[entry]


def options(role, entry="main"):
    return set(spec(role, entry).get("options") or {})


def tasks(items):
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks(task.get(key))


def calls():
    """(file, calling role, task, target role, entry point, validated) of every role call in roles/*/tasks."""
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))):
        caller = path.split(os.sep)[-3]
        with open(path, encoding="utf-8") as handle:
            for task in tasks(yaml.safe_load(handle)):
                action = next((key for key in CALLS if key in task), None)
                if action and task[action]["name"].startswith(PREFIX):
                    args = task[action]
                    yield (os.path.relpath(path, ROOT), caller, task, args["name"][len(PREFIX):],
                           args.get("tasks_from", "main"), args.get("rolespec_validate", True))


def test_some_calls_skip_the_check_and_each_is_covered():
    unchecked = [c for c in calls() if c[5] is False]
    assert len(unchecked) >= 17 + 8, "the k8s_manifests imports and k3s's internal ones (ADR-021)"
    every = list(calls())
    for path, caller, task, role, entry, _validated in unchecked:
        listed = options(role, entry)
        passed = set(task.get("vars") or {})
        assert passed <= listed, "%s passes %s, which %s:%s's spec does not list" % (path, passed - listed, role, entry)
        if INTERNAL.get((role, entry)) == "every option":
            assert "(internal)" in spec(role, entry)["short_description"], (role, entry)
            continue
        checked = passed | options(caller) | options("homelab") | INTERNAL.get((role, entry), set())
        checked |= set().union(*[options(r) for p, _c, _t, r, e, v in every if p == path and e == "main" and v])
        assert listed <= checked, "%s skips the check of %s for %s:%s" % (path, sorted(listed - checked), role, entry)


def test_a_call_from_a_playbook_keeps_the_check():
    # the user-facing entry points: a playbook's include or import of a role is always checked
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert "rolespec_validate" not in text, path

"""ADR-015, one value in one place, held by the source itself.

The inventory's groups are read in one file (the homelab role's defaults); everything else reads
homelab_servers, homelab_nodes, ... A role's private variables (<role>__name) are read by that role only.
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GROUPS_FILE = os.path.join("roles", "homelab", "defaults", "main.yml")
PRIVATE = re.compile(r"\b([a-z0-9_]+?)__[a-z0-9_]+")


def sources():
    """(relative path, text) of every role and playbook file Ansible reads (templates included)."""
    for top in ("roles", "playbooks"):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as handle:
                        yield os.path.relpath(path, ROOT), handle.read()


def test_only_the_homelab_role_reads_the_inventory_groups():
    readers = sorted(path for path, text in sources() if re.search(r"(?<![.\w])groups\s*\[", text) and path != GROUPS_FILE)
    assert readers == [], "read homelab_servers / homelab_agents / homelab_nodes / homelab_gpu_workers instead"


def test_the_groups_are_read_where_the_adr_says():
    with open(os.path.join(ROOT, GROUPS_FILE), encoding="utf-8") as handle:
        text = handle.read()
    for group in ("k3s_server", "k3s_agent", "k3s_cluster", "gpu_workers"):
        assert f"groups['{group}']" in text


def test_no_private_variable_is_read_outside_its_role():
    roles = set(os.listdir(os.path.join(ROOT, "roles")))
    outside = set()
    for path, text in sources():
        parts = path.split(os.sep)
        owner = parts[1] if parts[0] == "roles" else None
        for match in PRIVATE.finditer(text):
            prefix = match.group(1)
            if prefix in roles and prefix != owner:
                outside.add(f"{path}: {match.group(0)}")
    assert sorted(outside) == []


def test_the_private_variable_check_sees_a_private_variable():
    # The pattern the test above relies on finds the role of a private name (guards the regex).
    assert [m.group(1) for m in PRIVATE.finditer("{{ k3s__api_host }} {{ k3s_server__first }}")] == ["k3s", "k3s_server"]

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state
short_description: What a role reads on a host before it acts, in one module run
description:
  - Reads, in one module run, the dpkg packages, systemd units, users, groups and paths a role needs to decide whether
    a task has anything to do, and runs the read-only commands it names. A role then skips the tasks whose result is
    already there; each skipped module task saves a fresh Python on the host (0.5-1 s) on every re-run.
  - Changes nothing, also outside check mode; the reads run in check mode too.
  - Fails with dpkg-query's own message when it cannot answer. Where systemd cannot answer (not running), the units
    are reported C(unknown) with a warning, so a role runs the tasks it would have skipped.
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  packages:
    description:
      - Debian packages (C(name), C(name:arch) or C(name=version)) whose version, selection and status to read.
      - Returned as dpkg-query's output in RV(dpkg), which the filters P(homelab.platform.dpkg_missing#filter) and
        P(homelab.platform.dpkg_unheld#filter) read.
    type: list
    elements: str
    default: []
  units:
    description: systemd units whose load state, enablement and activity to read.
    type: list
    elements: str
    default: []
  users:
    description: Users to look up.
    type: list
    elements: str
    default: []
  groups:
    description: Groups to look up.
    type: list
    elements: str
    default: []
  paths:
    description: Paths whose existence, type, mode and link target to read (links are not followed).
    type: list
    elements: path
    default: []
  commands:
    description:
      - Commands that only read, by a name of your choice, each an argv (no shell). Their exit code is returned, not
        judged; a command that is not installed returns rc 127.
    type: dict
    default: {}
extends_documentation_fragment:
  - homelab.platform.check_mode_diff.read_only
"""

EXAMPLES = r"""
- name: Read the package, its unit and the players
  homelab.platform.host_state:
    packages: [tailscale]
    units: [tailscaled]
    users: [alice]
    groups: [gpu-mode]
    paths: [/usr/local/bin/kubectl]
    commands:
      version: [/usr/local/bin/k3s, --version]
  register: state

- name: Enable and start tailscaled only when it is not already
  ansible.builtin.systemd_service:
    name: tailscaled
    enabled: true
    state: started
  when: state.units.tailscaled.enabled != 'enabled' or state.units.tailscaled.active != 'active'
"""

RETURN = r"""
dpkg:
  description: dpkg-query's output for O(packages) (C(name version want status) per line); empty without packages.
  returned: always
  type: str
  sample: "tailscale 1.80.3 hold installed\n"
units:
  description:
    - Per unit asked, C(load) (loaded, not-found...), C(enabled) (enabled, disabled, static... or empty when the unit
      is not found) and C(active) (active, inactive, failed...); each C(unknown) where systemd cannot answer.
  returned: always
  type: dict
  sample: {tailscaled: {load: loaded, enabled: enabled, active: active}}
users:
  description: Per user asked, C(uid), C(home) and C(shell), or null when the host does not have it.
  returned: always
  type: dict
groups:
  description: Per group asked, C(gid) and C(members) (the supplementary members), or null when the host does not have it.
  returned: always
  type: dict
  sample: {gpu-mode: {gid: 998, members: [alice]}}
paths:
  description: Per path asked, C(exists), C(type) (file, directory, link, other), C(mode) and C(target) (of a link).
  returned: always
  type: dict
  sample: {/usr/local/bin/kubectl: {exists: true, type: link, mode: "0777", target: k3s}}
commands:
  description: Per command asked, C(rc), C(stdout) and C(stderr).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.platform.plugins.module_utils import host_state as core


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            units=dict(type="list", elements="str", default=[]),
            users=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            paths=dict(type="list", elements="path", default=[]),
            commands=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        try:
            return module.run_command(argv, handle_exceptions=False, environ_update={"LC_ALL": "C"})
        except FileNotFoundError as exc:
            return 127, "", "%s: %s" % (argv[0], exc.strerror)

    p = module.params
    try:
        state = core.read(run, p["packages"], p["units"], p["users"], p["groups"], p["paths"], p["commands"])
    except core.HostStateError as exc:
        module.fail_json(msg=str(exc))
    for warning in state.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()

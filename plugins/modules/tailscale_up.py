#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tailscale_up
short_description: Bring a node into the tailnet with the wanted settings, idempotently
description:
  - Reads C(tailscale status --json) and C(tailscale debug prefs) and runs the smallest command that reaches the wanted settings.
  - A node that is not logged in runs C(tailscale up) with O(authkey). A logged-in node whose settings differ runs
    C(tailscale set) with only the differing flags, and needs no auth key. Changing O(advertise_tags) or O(login_server)
    needs re-authentication (C(tailscale up --reset --force-reauth)) and therefore O(authkey).
  - Nothing runs when the node already matches, so a second run reports no change.
  - The auth key is handed to the CLI as C(--auth-key=file:...) from a 0600 temporary file, never on the command line,
    and never appears in the output.
  - Options left unset are not managed.
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  authkey:
    description: Auth key or OAuth client secret. Only used when the node must (re-)authenticate.
    type: str
  advertise_routes:
    description: Subnet routes to advertise (CIDRs, e.g. the node's LAN). An empty list withdraws all.
    type: list
    elements: str
  accept_routes:
    description: Accept subnet routes advertised by other nodes.
    type: bool
  advertise_exit_node:
    description: Offer this node as an exit node.
    type: bool
  exit_node:
    description: Tailscale IP or name of the exit node to use; empty string for none.
    type: str
  hostname:
    description: Hostname in the tailnet; empty string for the OS hostname.
    type: str
  accept_dns:
    description: Use the tailnet's DNS settings (MagicDNS).
    type: bool
  ssh:
    description: Run Tailscale SSH.
    type: bool
  advertise_tags:
    description: ACL tags (C(tag:name)) to request for this node.
    type: list
    elements: str
  login_server:
    description: Control server URL, e.g. a Headscale server. Empty means Tailscale's.
    type: str
  tailscale_bin:
    description: The tailscale CLI.
    type: path
    default: tailscale
  timeout:
    description: Seconds C(tailscale up) may take.
    type: int
    default: 120
extends_documentation_fragment:
  - homelab.platform.check_mode_diff
notes:
  - Returns the node's Tailscale addresses as facts for the K3s roles (node-ip, tls-san, kubeconfig address).
"""

EXAMPLES = r"""
- name: Join the tailnet as a subnet router for the LAN
  homelab.platform.tailscale_up:
    authkey: "{{ vault_tailscale_authkey }}"
    advertise_routes: [192.168.2.0/24]
    accept_routes: true

- name: Change routes on a node that is already up (no auth key needed)
  homelab.platform.tailscale_up:
    advertise_routes: [192.168.0.0/24]
"""

RETURN = r"""
action:
  description: "What ran: none, set or up."
  returned: always
  type: str
  sample: set
command:
  description: The tailscale arguments that ran (or would run in check mode), without the auth key.
  returned: always
  type: list
  elements: str
  sample: [set, --advertise-routes=192.168.2.0/24]
ansible_facts:
  description: The node's Tailscale identity.
  returned: when the node is up
  type: dict
  contains:
    tailscale_ipv4:
      description: The node's 100.x address.
      type: str
      sample: 100.84.89.67
    tailscale_ipv6:
      description: The node's fd7a:115c:a1e0::/48 address.
      type: str
    tailscale_dns_name:
      description: MagicDNS name, without the trailing dot.
      type: str
      sample: k3s-master.tailnet-1234.ts.net
    tailscale_backend_state:
      description: BackendState after the run.
      type: str
      sample: Running
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.platform.plugins.module_utils import tailscale as core


def read_json(module, args, what):
    rc, out, err = module.run_command([module.params["tailscale_bin"]] + args)
    if rc != 0 and not out.strip().startswith("{"):
        module.fail_json(msg="%s failed (rc %s): %s. Is tailscaled running?" % (what, rc, (err or out).strip()))
    try:
        return json.loads(out)
    except ValueError as exc:
        module.fail_json(msg="%s did not print JSON: %s" % (what, exc))


def read_state(module):
    status = read_json(module, ["status", "--json"], "tailscale status --json")
    prefs = read_json(module, ["debug", "prefs"], "tailscale debug prefs")
    return core.current(status, prefs)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            authkey=dict(type="str", no_log=True),
            advertise_routes=dict(type="list", elements="str"),
            accept_routes=dict(type="bool"),
            advertise_exit_node=dict(type="bool"),
            exit_node=dict(type="str"),
            hostname=dict(type="str"),
            accept_dns=dict(type="bool"),
            ssh=dict(type="bool"),
            advertise_tags=dict(type="list", elements="str"),
            login_server=dict(type="str"),
            tailscale_bin=dict(type="path", default="tailscale"),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.get_bin_path(p["tailscale_bin"]) is None and not os.path.exists(p["tailscale_bin"]):
        module.fail_json(msg="%s not found: install Tailscale first (role homelab.platform.tailscale)" % p["tailscale_bin"])
    p["tailscale_bin"] = module.get_bin_path(p["tailscale_bin"]) or p["tailscale_bin"]

    try:
        wanted = core.wanted_settings(p)
        before = read_state(module)
        todo = core.plan(before, wanted, have_auth_key=bool(p["authkey"]))
    except core.TailscaleError as exc:
        module.fail_json(msg=str(exc))

    result = dict(changed=todo["action"] != "none", action=todo["action"], command=todo["args"])
    if module._diff:
        result["diff"] = dict(
            before={k: v[0] for k, v in todo["changes"].items()},
            after={k: v[1] for k, v in todo["changes"].items()},
        )
    if module.check_mode or todo["action"] == "none":
        if before["running"]:
            result["ansible_facts"] = core.facts(before)
        module.exit_json(**result)

    args = list(todo["args"])
    keyfile = None
    try:
        if todo["action"] == "up":
            args.append("--timeout=%ds" % p["timeout"])
            if p["authkey"]:
                fd, keyfile = tempfile.mkstemp(prefix=".tailscale-authkey-")
                with os.fdopen(fd, "w") as handle:
                    handle.write(p["authkey"])
                os.chmod(keyfile, 0o600)
                args.append("--auth-key=file:%s" % keyfile)
        rc, out, err = module.run_command([p["tailscale_bin"]] + args)
    finally:
        if keyfile and os.path.exists(keyfile):
            os.unlink(keyfile)
    if rc != 0:
        module.fail_json(msg="tailscale %s failed (rc %s): %s" % (todo["action"], rc, (err or out).strip()), **result)
    after = read_state(module)
    result["ansible_facts"] = core.facts(after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

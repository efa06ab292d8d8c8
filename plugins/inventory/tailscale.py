# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: tailscale
short_description: Inventory of the tailnet's nodes from C(tailscale status --json)
description:
  - Reads the local tailscale CLI's C(status --json) (or a saved copy) and adds this node and its peers as hosts,
    with C(ansible_host) set to the node's Tailscale IPv4 address.
  - ACL tags become groups, C(tag:k3s-server) becoming C(k3s_server).
  - Supports C(compose), C(groups) and C(keyed_groups) from the constructed plugin.
  - Every string that comes from the tailnet is marked unsafe, so it is never templated.
  - The inventory file name must end in C(tailscale.yml) or C(tailscale.yaml).
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: Marks the file as this plugin's.
    required: true
    type: str
    choices: [homelab.platform.tailscale]
  tailscale_bin:
    description:
      - The tailscale CLI run on the controller, C(status --json). A name without a C(/) is looked up on E(PATH), as
        a shell does; a path is run as it is.
      - When it cannot be run or fails, the source fails with what was run and why; C(ansible-inventory) then exits
        non-zero only with C(inventory_unparsed_failed) (E(ANSIBLE_INVENTORY_UNPARSED_FAILED=true)), else it warns
        and goes on without these hosts.
    type: str
    default: tailscale
  status_file:
    description: Read this saved C(tailscale status --json) document instead of running the CLI.
    type: path
  include_self:
    description: Add the controller's own node.
    type: bool
    default: true
  online_only:
    description: Add only nodes that are online.
    type: bool
    default: false
  tag_groups:
    description: Make a group of each ACL tag (C(tag:k3s-server) -> C(k3s_server)).
    type: bool
    default: true
  hostname_source:
    description: Inventory host name, the node's host name or its MagicDNS name.
    type: str
    choices: [host_name, dns_name]
    default: host_name
"""

EXAMPLES = r"""
# inventories/tailnet/homelab.tailscale.yml
plugin: homelab.platform.tailscale
online_only: true
keyed_groups:
  - key: tailscale_os
    prefix: os
groups:
  gpu_workers: "'tag:gpu' in tailscale_tags"
compose:
  k3s_node_ip: tailscale_ipv4
"""

import json
import os
import re
import shutil
import subprocess

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.homelab.platform.plugins.module_utils import network


def tag_group(tag):
    """tag:k3s-server -> k3s_server (a valid Ansible group name)."""
    name = tag[4:] if tag.startswith("tag:") else tag
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def node_vars(node, is_self):
    ips = [str(ip) for ip in node.get("TailscaleIPs") or []]
    return {
        "tailscale_ipv4": network.tailscale_ip(ips, 4) if network.HAS_NETADDR else next((i for i in ips if ":" not in i), None),
        "tailscale_ipv6": next((i for i in ips if ":" in i), None),
        "tailscale_dns_name": (node.get("DNSName") or "").rstrip(".") or None,
        "tailscale_host_name": node.get("HostName"),
        "tailscale_tags": list(node.get("Tags") or []),
        "tailscale_online": bool(node.get("Online")),
        "tailscale_os": node.get("OS"),
        "tailscale_primary_routes": list(node.get("PrimaryRoutes") or []),
        "tailscale_id": node.get("ID"),
        "tailscale_self": is_self,
    }


def nodes(status, include_self=True, online_only=False):
    """(name-source dict, vars) for each node of a status document."""
    if not isinstance(status, dict):
        raise ValueError("the status document is not a JSON object")
    out = []
    if include_self and status.get("Self"):
        out.append((status["Self"], True))
    for peer in (status.get("Peer") or {}).values():
        out.append((peer, False))
    result = []
    for node, is_self in out:
        hostvars = node_vars(node, is_self)
        if is_self and status.get("BackendState") == "Running":
            hostvars["tailscale_online"] = True
        if online_only and not hostvars["tailscale_online"]:
            continue
        if not hostvars["tailscale_ipv4"] and not hostvars["tailscale_ipv6"]:
            continue
        result.append((node, hostvars))
    return result


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Hosts from the tailnet."""

    NAME = "homelab.platform.tailscale"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("tailscale.yml", "tailscale.yaml"))

    def _status(self):
        status_file = self.get_option("status_file")
        try:
            if status_file:
                with open(status_file, encoding="utf-8") as handle:
                    return json.load(handle)
            cli = self.get_option("tailscale_bin")
            found = cli if os.sep in cli else shutil.which(cli)
            if not found:
                raise AnsibleParserError(
                    "cannot read the tailnet status: %r is not on PATH (%s); install tailscale on the controller, or "
                    "set tailscale_bin to its path, or status_file to a saved `tailscale status --json`"
                    % (cli, os.environ.get("PATH", "")))
            proc = subprocess.run([found, "status", "--json"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise AnsibleParserError("cannot read the tailnet status: %s" % exc) from exc
        if proc.returncode != 0:
            raise AnsibleParserError("%s status --json failed (exit %d): %s"
                                     % (found, proc.returncode, (proc.stderr or proc.stdout).strip()))
        try:
            return json.loads(proc.stdout)
        except ValueError as exc:
            raise AnsibleParserError("%s status --json did not print JSON: %s" % (found, exc)) from exc

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        strict = self.get_option("strict")
        try:
            found = nodes(self._status(), self.get_option("include_self"), self.get_option("online_only"))
        except ValueError as exc:
            raise AnsibleParserError(str(exc)) from exc
        for node, hostvars in found:
            if self.get_option("hostname_source") == "dns_name" and hostvars["tailscale_dns_name"]:
                name = hostvars["tailscale_dns_name"]
            else:
                name = node.get("HostName") or hostvars["tailscale_ipv4"]
            name = self.inventory.add_host(str(wrap_var(name)))
            hostvars = wrap_var(hostvars)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            self.inventory.set_variable(name, "ansible_host", hostvars["tailscale_ipv4"] or hostvars["tailscale_ipv6"])
            if self.get_option("tag_groups"):
                for tag in hostvars["tailscale_tags"]:
                    group = self.inventory.add_group(tag_group(str(tag)))
                    self.inventory.add_child(group, name)
            all_vars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), all_vars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), all_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), all_vars, name, strict=strict)

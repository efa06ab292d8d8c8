# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network filters (netaddr); the logic lives in module_utils/network.py."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import network as core


def _wrap(func):
    return as_filter(func, core.NetworkError, prefix=True)


class FilterModule:
    """Network filters."""

    def filters(self):
        return {
            "cidr_conflicts": _wrap(core.cidr_conflicts),
            "tailscale_ip": _wrap(core.tailscale_ip),
            "network_preflight": _wrap(core.preflight),
        }

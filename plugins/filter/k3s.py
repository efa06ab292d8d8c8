# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the k3s roles; the logic lives in module_utils/k3s_config.py."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import k3s_config as core


def _wrap(func):
    return as_filter(func, core.K3sConfigError)


class FilterModule:
    """K3s filters."""

    def filters(self):
        return {
            "k3s_config": _wrap(core.build_config),
            "k3s_release": _wrap(core.release_assets),
            "k3s_version": _wrap(core.parse_version),
            "k3s_installed_version": _wrap(core.installed_version),
            "k3s_checksum": _wrap(core.checksum_from_file),
            "k3s_labels": _wrap(core.labels_to_list),
            "k3s_snapshots_expired": _wrap(core.snapshots_expired),
            "k3s_upgrade_plan": _wrap(core.upgrade_plan),
            "k3s_node_metadata_patch": _wrap(core.node_metadata_patch),
            "k3s_critical_changes": _wrap(core.critical_changes),
        }

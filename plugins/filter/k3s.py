# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the k3s roles; the logic lives in module_utils/k3s_config.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.platform.plugins.module_utils import k3s_config as core


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except core.K3sConfigError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


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
        }

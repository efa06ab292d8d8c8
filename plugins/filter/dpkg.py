# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dpkg filters; the logic lives in module_utils/dpkg.py."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import dpkg as core


class FilterModule:
    """dpkg filters."""

    def filters(self):
        return {
            "dpkg_missing": as_filter(core.missing, core.DpkgError, prefix=True),
            "dpkg_unheld": as_filter(core.unheld, core.DpkgError, prefix=True),
            "dpkg_selection": as_filter(core.selection, core.DpkgError, prefix=True),
            "dpkg_query_argv": as_filter(core.query_argv, core.DpkgError, prefix=True),
        }

# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of user values by kind; the logic lives in module_utils/validate.py."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import validate as core


class FilterModule:
    """Value filters."""

    def filters(self):
        return {"value_problems": as_filter(core.value_problems, core.ValidationError, prefix=True),
                "checked_variables": as_filter(core.checked_variables, core.ValidationError, prefix=True)}

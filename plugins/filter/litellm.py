# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LiteLLM filters; the logic lives in module_utils/litellm_config.py (shared with the litellm_config module)."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core
from ansible_collections.homelab.platform.plugins.module_utils.manifests import plain


def litellm_config(aliases, fallbacks=None, router_settings=None, litellm_settings=None, general_settings=None):
    """The validated config.yaml and its checksum ({config, checksum}), as the litellm_config module renders it."""
    return core.rendered(*plain([aliases, fallbacks, router_settings, litellm_settings, general_settings]))


class FilterModule:
    """LiteLLM filters."""

    def filters(self):
        return {"litellm_config": as_filter(litellm_config, core.LiteLLMConfigError)}

# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of homelab.platform.kubeconfig_merge: on the controller, the module runs in the task's worker (ADR-020)."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    """homelab.platform.kubeconfig_merge, run in the worker where the task runs on the controller itself."""

# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest filters (seed 002 builders and checker); the logic lives in module_utils/manifests.py."""

from __future__ import annotations

from ansible_collections.homelab.platform.plugins.plugin_utils.filters import as_filter
from ansible_collections.homelab.platform.plugins.module_utils import manifests as core


def manifest_violations(files, namespaces=None, requirements=None, placement=None):
    """Seed 002 violations of rendered files ({name: text}) as readable lines; with the requirements
    catalogue's text, the headers' FR/NFR ids are traced to it too; `placement` ({app: namespace}) moves
    apps of the namespace table where the inventory puts them."""
    catalogue = None if requirements is None else core.parse_requirements(requirements)
    if placement:
        namespaces = core.namespace_map(placement, namespaces)
    return [str(v) for name, text in sorted(files.items()) for v in core.check_file(text, name, namespaces, catalogue)]


def _wrap(func):
    return as_filter(func, core.ManifestError, prefix=True)


class FilterModule:
    """Manifest filters."""

    def filters(self):
        return {
            "k8s_labels": _wrap(core.labels),
            "k8s_metadata": _wrap(core.metadata),
            "helm_chart": _wrap(core.helm_chart),
            "ingress_triplet": _wrap(core.ingress_triplet),
            "k8s_workload": _wrap(core.workload),
            "to_manifests": _wrap(core.to_manifests),
            "manifest_violations": _wrap(manifest_violations),
        }

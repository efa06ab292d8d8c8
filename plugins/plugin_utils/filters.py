# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the collection's filter plugins."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def as_filter(func, errors, prefix=False):
    """Wrap a module_utils function so its ValueError subclasses become AnsibleFilterError."""

    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except errors as exc:
            raise AnsibleFilterError(("%s: %s" % (func.__name__, exc)) if prefix else str(exc)) from exc

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run

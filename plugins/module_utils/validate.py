# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of user values by kind, with the rules the consumer enforces: a refusal names the variable, the value
and what is allowed, before any host or API object is touched.

The Kubernetes name rules are the API server's (k8s.io/apimachinery pkg/util/validation/validation.go:
IsDNS1123Label, IsDNS1035Label, IsDNS1123Subdomain); a Service name is a DNS-1035 label
(pkg/apis/core/validation ValidateServiceName), a Namespace a DNS-1123 label, a Deployment or ConfigMap a DNS-1123
subdomain; a port is 1-65535 (validation.IsValidPortNum).
"""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

KINDS = {
    "port": "a port number, 1-65535",
    "namespace": "a Namespace name: a DNS-1123 label (lower case letters, digits and '-', starting and ending with a "
                 "letter or digit, at most 63 characters)",
    "service": "a Service name: a DNS-1035 label (lower case letters, digits and '-', starting with a letter and "
               "ending with a letter or digit, at most 63 characters)",
    "name": "an object name: a DNS-1123 subdomain (lower case letters, digits, '-' and '.', each part starting and "
            "ending with a letter or digit, at most 253 characters)",
}
# variable name suffix -> kind, for the home-lab-wide values (homelab_*)
SUFFIXES = (("_port", "port"), ("_namespace", "namespace"), ("_service", "service"), ("_deployment", "name"),
            ("_configmap", "name"))


class ValidationError(ValueError):
    """A kind this module does not know."""


def is_valid(kind, value):
    if kind not in KINDS:
        raise ValidationError("unknown kind %r (known: %s)" % (kind, ", ".join(sorted(KINDS))))
    if kind == "port":
        return not isinstance(value, bool) and str(value).isdigit() and 1 <= int(value) <= 65535
    if not isinstance(value, str):
        return False
    if kind == "namespace":
        return len(value) <= 63 and bool(DNS1123_LABEL.match(value))
    if kind == "service":
        return len(value) <= 63 and bool(DNS1035_LABEL.match(value))
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def kind_of(variable):
    """The kind a home-lab-wide variable's name implies, or None."""
    return next((kind for suffix, kind in SUFFIXES if variable.endswith(suffix)), None)


def value_problems(values, kinds=None):
    """values: variable -> value; kinds: variable -> kind (default: the kind its name's suffix implies, variables
    without one are not checked). One line per refused value, sorted by variable."""
    problems = []
    for variable in sorted(values):
        kind = (kinds or {}).get(variable) or kind_of(variable)
        if kind and not is_valid(kind, values[variable]):
            problems.append("%s: %r is not %s" % (variable, values[variable], KINDS[kind]))
    return problems

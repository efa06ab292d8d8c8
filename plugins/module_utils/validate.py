# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of user values by kind, with the rules the consumer enforces: a refusal names the variable, the value
and what is allowed, before any host or API object is touched.

The Kubernetes name rules are the API server's (k8s.io/apimachinery pkg/util/validation/validation.go:
IsDNS1123Label, IsDNS1035Label, IsDNS1123Subdomain); a Service name is a DNS-1035 label
(pkg/apis/core/validation ValidateServiceName), a Namespace a DNS-1123 label, a Deployment or ConfigMap a DNS-1123
subdomain; a port is 1-65535 (validation.IsValidPortNum). A size is a Kubernetes quantity as a volume or emptyDir
takes it (k8s.io/apimachinery pkg/api/resource/quantity.go), > 0. A duration is Prometheus' and Loki's
(prometheus/common model.ParseDuration: units y w d h m s ms, largest first). A schedule is the five-field cron
line of Kubernetes CronJobs and K3s' etcd-snapshot-schedule-cron (robfig/cron's standard parser, and its @hourly
... @yearly descriptors). A version is a release number, a K3s version its release tag (v1.34.3+k3s1). A
Tailscale host name is a DNS label (empty: the machine's own). A model an app asks for is a LiteLLM alias, not a
model path (seed 002's anti-patterns).
"""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][0-9]+)?$")
DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")
VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+~][0-9A-Za-z.+~-]+)?$")
K3S_VERSION = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?\+k3s[0-9]+$")
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# field: (lowest, highest, names)
CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
               ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
               ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))

KINDS = {
    "port": "a port number, 1-65535",
    "namespace": "a Namespace name: a DNS-1123 label (lower case letters, digits and '-', starting and ending with a "
                 "letter or digit, at most 63 characters)",
    "service": "a Service name: a DNS-1035 label (lower case letters, digits and '-', starting with a letter and "
               "ending with a letter or digit, at most 63 characters)",
    "name": "an object name: a DNS-1123 subdomain (lower case letters, digits, '-' and '.', each part starting and "
            "ending with a letter or digit, at most 253 characters)",
    "size": "a size as Kubernetes takes it, greater than 0 (e.g. 512Mi, 20Gi, 1Ti)",
    "duration": "a duration as Prometheus and Loki take it: a number and a unit y, w, d, h, m, s or ms, largest "
                "first (e.g. 15d, 336h, 1w2d)",
    "schedule": "a cron schedule: five fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6; "
                "each *, a number, a range a-b, a list, with an optional /step) or @hourly, @daily, @weekly, "
                "@monthly, @yearly",
    "version": "a release version such as 1.2.3 (an optional leading v and a -suffix or +suffix)",
    "k3s_version": "a K3s release tag such as v1.34.3+k3s1",
    "seconds": "a whole number of seconds, at least 1",
    "alias": "a LiteLLM model alias as litellm_aliases names one (e.g. vllm-qwen): apps ask LiteLLM for an alias, "
             "never for a model path (no '/' and no spaces)",
    "hostname": "a host name: a DNS label (letters, digits and '-', starting and ending with a letter or digit, at "
                "most 63 characters), or empty for the machine's own",
}
# variable name suffix -> kind: the home-lab-wide values (homelab_*), then those of every role
HOMELAB_SUFFIXES = (("_port", "port"), ("_namespace", "namespace"), ("_service", "service"), ("_deployment", "name"),
                    ("_configmap", "name"))
SUFFIXES = (("_size", "size"), ("_schedule", "schedule"), ("_schedule_cron", "schedule"), ("_timeout", "seconds"),
            ("_version", "version"))
# the prefixes of the variables checked: the home-lab-wide values and those of every role (a unit test keeps the
# list equal to the roles/ folder)
PREFIXES = ("homelab", "cert_manager", "dev_containers", "dev_proxy", "gitea", "gpu_mode", "k3s", "k3s_agent",
            "k3s_server", "k8s_manifests", "kubernetes_dashboard", "litellm", "metallb", "monitoring", "n8n",
            "network_preflight", "nfs_storage", "nvidia_gpu", "ollama", "open_webui", "paperless", "postgres", "prereq",
            "tailscale", "vllm")
# variables whose kind their name's suffix does not say (or says wrongly: k3s_*_retention are counts)
NAMED = {"k3s_version": "k3s_version", "tailscale_version": "version", "litellm_version": "version",
         "monitoring_retention": "duration", "monitoring_log_retention": "duration",
         "paperless_ai_scan_interval": "schedule", "tailscale_hostname": "hostname",
         # the Node's name when a user sets it: K3s registers the Node under it (a DNS-1123 subdomain, as any object)
         "k3s_node_name": "name",
         # the model an app asks LiteLLM for (what the manifests' model-alias convention holds the apps to)
         "open_webui_default_model": "alias", "paperless_ai_model": "alias"}


class ValidationError(ValueError):
    """A kind this module does not know."""


def _cron_field(text, lowest, highest, names):
    for part in text.split(","):
        rng, _sep, step = part.partition("/")
        if _sep and not (step.isdigit() and int(step) >= 1):
            return False
        if rng == "*":
            continue
        bounds = rng.split("-")
        if len(bounds) > 2:
            return False
        numbers = []
        for bound in bounds:
            bound = bound.lower()
            if bound in names:
                numbers.append(names.index(bound) + lowest)
            elif bound.isdigit():
                numbers.append(int(bound))
            else:
                return False
        if any(not lowest <= n <= highest for n in numbers) or numbers != sorted(numbers):
            return False
    return True


def _schedule(value):
    text = value.strip()
    if text in CRON_DESCRIPTORS:
        return True
    fields = text.split()
    return len(fields) == 5 and all(_cron_field(field, low, high, names)
                                    for field, (_what, low, high, names) in zip(fields, CRON_FIELDS))


def is_valid(kind, value):
    if kind not in KINDS:
        raise ValidationError("unknown kind %r (known: %s)" % (kind, ", ".join(sorted(KINDS))))
    if kind in ("port", "seconds"):
        low, high = (1, 65535) if kind == "port" else (1, 10 ** 9)
        return not isinstance(value, bool) and str(value).isdigit() and low <= int(value) <= high
    if not isinstance(value, str):
        return False
    if kind == "namespace":
        return len(value) <= 63 and bool(DNS1123_LABEL.match(value))
    if kind == "service":
        return len(value) <= 63 and bool(DNS1035_LABEL.match(value))
    if kind == "hostname":
        return value == "" or (len(value) <= 63 and bool(re.match(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$", value)))
    if kind == "alias":
        return value != "" and "/" not in value and not any(c.isspace() for c in value)
    if kind == "size":
        match = QUANTITY.match(value)
        return bool(match) and float(match.group(1)) > 0
    if kind == "duration":
        return value != "" and bool(DURATION.match(value)) and any(c in "123456789" for c in value)
    if kind == "schedule":
        return _schedule(value)
    if kind == "version":
        return bool(VERSION.match(value))
    if kind == "k3s_version":
        return bool(K3S_VERSION.match(value))
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def kind_of(variable):
    """The kind a variable's name implies (NAMED, then the longest matching suffix), or None."""
    if variable in NAMED:
        return NAMED[variable]
    suffixes = SUFFIXES + (HOMELAB_SUFFIXES if variable.startswith("homelab_") else ())
    matches = [(len(suffix), kind) for suffix, kind in suffixes if variable.endswith(suffix)]
    return max(matches)[1] if matches else None


def checked_variables(names):
    """The names among `names` (e.g. every variable a play sees) of this collection's variables whose kind is known."""
    return sorted(name for name in names if isinstance(name, str) and kind_of(name)
                  and any(name.startswith(prefix + "_") for prefix in PREFIXES))


def value_problems(values, kinds=None):
    """values: variable -> value; kinds: variable -> kind (default: the kind its name's suffix implies, variables
    without one are not checked). One line per refused value, sorted by variable."""
    problems = []
    for variable in sorted(values):
        kind = (kinds or {}).get(variable) or kind_of(variable)
        if kind and not is_valid(kind, values[variable]):
            problems.append("%s: %r is not %s" % (variable, values[variable], KINDS[kind]))
    return problems

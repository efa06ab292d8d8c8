"""Write roles/<role>/README.md from the role's meta/argument_specs.yml.

    python3 tools/role_readmes.py          # write every README
    python3 tools/role_readmes.py --check  # exit 1 when a README differs from its argument specs

The argument specs are the one description of a role's interface; the READMEs are rendered
from them so they cannot drift (a unit test runs --check).
"""

from __future__ import annotations

import glob
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "<!-- Generated from meta/argument_specs.yml by tools/role_readmes.py: edit the specs, then run it. -->"


def _text(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value)
    return str(value).strip()


def _cell(value):
    return _text(value).replace("|", "\\|").replace("\n", " ")


def _default(spec, defaults, option):
    """The spec's default, else the role's defaults/main.yml value (long ones are referred to there)."""
    if "default" in spec:
        value = spec["default"]
    elif option in defaults:
        value = defaults[option]
    else:
        return ""
    if isinstance(value, str):
        text = value if value else '""'
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
        if text.endswith("\n..."):
            text = text[:-4].strip()
    if len(text) > 60 or "\n" in text:
        return "see `defaults/main.yml`"
    return "`%s`" % text.replace("|", "\\|")


def render(role, specs, defaults=None):
    defaults = defaults or {}
    lines = [HEADER, "", "# homelab.platform.%s" % role, ""]
    entry_points = specs.get("argument_specs") or {}
    for name in sorted(entry_points, key=lambda n: (n != "main", n)):
        entry = entry_points[name] or {}
        lines.append("## Entry point `%s`" % name)
        lines.append("")
        lines.append(_text(entry.get("short_description")))
        lines.append("")
        for paragraph in entry.get("description") or []:
            lines.append("- " + _text(paragraph))
        if entry.get("description"):
            lines.append("")
        if name == "main":
            lines.append("```yaml\n- ansible.builtin.import_role:\n    name: homelab.platform.%s\n```" % role)
        else:
            lines.append("```yaml\n- ansible.builtin.import_role:\n    name: homelab.platform.%s\n    tasks_from: %s\n```"
                         % (role, name))
        lines.append("")
        options = entry.get("options") or {}
        if not options:
            lines.append("No variables.")
            lines.append("")
            continue
        lines.append("| Variable | Type | Required | Default | Description |")
        lines.append("|---|---|---|---|---|")
        for option in sorted(options):
            spec = options[option] or {}
            kind = spec.get("type", "str")
            if kind == "list" and spec.get("elements"):
                kind = "list of %s" % spec["elements"]
            if spec.get("choices"):
                kind += " (%s)" % ", ".join(str(c) for c in spec["choices"])
            row = (option, _cell(kind), "yes" if spec.get("required") else "", _default(spec, defaults, option),
                   _cell(spec.get("description")))
            lines.append("| `%s` | %s | %s | %s | %s |" % row)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def readmes():
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role_dir = os.path.dirname(os.path.dirname(path))
        with open(path, encoding="utf-8") as handle:
            specs = yaml.safe_load(handle)
        defaults = {}
        defaults_path = os.path.join(role_dir, "defaults", "main.yml")
        if os.path.exists(defaults_path):
            with open(defaults_path, encoding="utf-8") as handle:
                defaults = yaml.safe_load(handle) or {}
        yield os.path.join(role_dir, "README.md"), render(os.path.basename(role_dir), specs, defaults)


def main(argv):
    check = "--check" in argv
    stale = []
    for path, text in readmes():
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        if check:
            stale.append(os.path.relpath(path, ROOT))
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    if stale:
        print("out of date (run python3 tools/role_readmes.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

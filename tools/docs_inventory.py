"""Write the intersphinx inventory of docs/docsite/ansible.txt (the Ansible docs' labels the site links to).

    python3 tools/docs_inventory.py SOURCE DEST

Sphinx's inventory format, version 2: four header lines, then zlib-compressed lines
"name domain:role priority uri display-name".
"""

from __future__ import annotations

import sys
import zlib


def inventory(text, project="Ansible", version="devel"):
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, role, uri, title = line.split("\t")
        lines.append("%s %s %d %s %s\n" % (name, role, 1 if role == "std:envvar" else -1, uri, title))
    header = ("# Sphinx inventory version 2\n# Project: %s\n# Version: %s\n"
              "# The remainder of this file is compressed using zlib.\n" % (project, version))
    return header.encode() + zlib.compress("".join(lines).encode())


def main(argv):
    source, dest = argv
    with open(source, encoding="utf-8") as handle:
        data = inventory(handle.read())
    with open(dest, "wb") as handle:
        handle.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

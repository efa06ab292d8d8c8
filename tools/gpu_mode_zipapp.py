"""Write roles/gpu_mode/files/gpu-mode, the `gpu-mode` command as one Python zipapp built from plugins/module_utils.

    python3 tools/gpu_mode_zipapp.py          # write it
    python3 tools/gpu_mode_zipapp.py --check  # exit 1 when it differs from what module_utils would build

The command and the gpu_mode module share their code in plugins/module_utils (ADR-006). The node gets that code as
one file, installed by one ansible.builtin.copy: a zip of the package `homelab_gpu_mode` (the modules below) and a
`__main__.py`, behind a `#!/usr/bin/python3` line, which Python runs as it runs a script (the zipapp format of
PEP 441). The build is reproducible (sorted entries, a fixed timestamp, stored uncompressed), so the file only
changes when its sources do; a unit test runs --check.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("gpu_mode.py", "gpu_mode_cli.py", "gpu_mode_run.py", "gpu_mode_sudo.py", "k8s_client.py",
           "litellm_config.py", "nvidia.py")
TARGET = os.path.join(ROOT, "roles", "gpu_mode", "files", "gpu-mode")
SHEBANG = b"#!/usr/bin/python3\n"
MAIN = """# gpu-mode ml|r1|gaming|status|boot|run - installed by homelab.platform.gpu_mode (tools/gpu_mode_zipapp.py)
import sys

from homelab_gpu_mode.gpu_mode_cli import command

sys.exit(command())
"""
INIT = "# gpu-mode's code, from homelab.platform's plugins/module_utils\n"


def members():
    """(name in the archive, bytes) of every member, in the order they are written."""
    yield "__main__.py", MAIN.encode()
    yield "homelab_gpu_mode/__init__.py", INIT.encode()
    for name in SOURCES:
        with open(os.path.join(ROOT, "plugins", "module_utils", name), "rb") as handle:
            yield "homelab_gpu_mode/" + name, handle.read()


def build():
    """The zipapp's bytes."""
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def main(argv):
    wanted = build()
    current = open(TARGET, "rb").read() if os.path.exists(TARGET) else None
    if "--check" in argv:
        if current != wanted:
            print("%s is not what plugins/module_utils builds: run python3 tools/gpu_mode_zipapp.py"
                  % os.path.relpath(TARGET, ROOT))
            return 1
        return 0
    if current != wanted:
        with open(TARGET, "wb") as handle:
            handle.write(wanted)
        os.chmod(TARGET, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

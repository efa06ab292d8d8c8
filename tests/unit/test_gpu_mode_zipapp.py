"""roles/gpu_mode/files/gpu-mode is the zipapp plugins/module_utils builds, and it runs as the command."""

import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gpu_mode_zipapp  # noqa: E402  pylint: disable=wrong-import-position


def test_the_shipped_command_is_what_module_utils_builds():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gpu_mode_zipapp.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    with zipfile.ZipFile(gpu_mode_zipapp.TARGET) as archive:
        names = archive.namelist()
        assert archive.read("homelab_gpu_mode/gpu_mode_cli.py") == open(
            os.path.join(ROOT, "plugins", "module_utils", "gpu_mode_cli.py"), "rb").read()
    assert names[0] == "__main__.py" and len(names) == 2 + len(gpu_mode_zipapp.SOURCES)
    assert os.stat(gpu_mode_zipapp.TARGET).st_mode & 0o777 == 0o755
    assert open(gpu_mode_zipapp.TARGET, "rb").readline() == b"#!/usr/bin/python3\n"


def test_the_build_is_reproducible():
    assert gpu_mode_zipapp.build() == gpu_mode_zipapp.build()


def test_every_module_the_command_imports_is_in_it():
    """Run from the file alone (no collection on the path): the CLI and everything it imports load from the zip."""
    proc = subprocess.run([sys.executable, "-I", gpu_mode_zipapp.TARGET, "--help"], capture_output=True, text=True,
                          check=False, cwd="/", env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    assert "Share the GPU between ML inference and gaming." in proc.stdout
    check = ("import sys, importlib; sys.path.insert(0, %r); "
             "[importlib.import_module('homelab_gpu_mode.' + n[:-3]) for n in %r]" % (gpu_mode_zipapp.TARGET,
                                                                                      gpu_mode_zipapp.SOURCES))
    proc = subprocess.run([sys.executable, "-I", "-c", check], capture_output=True, text=True, check=False, cwd="/")
    assert proc.returncode == 0, proc.stderr

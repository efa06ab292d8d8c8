"""Every role's README is the rendering of its argument specs (tools/role_readmes.py)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_role_readmes_match_their_argument_specs():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "role_readmes.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_has_a_readme_listing_its_variables():
    roles = sorted(os.listdir(os.path.join(ROOT, "roles")))
    assert len(roles) >= 20
    for role in roles:
        text = open(os.path.join(ROOT, "roles", role, "README.md"), encoding="utf-8").read()
        assert text.count("## Entry point `main`") == 1, role

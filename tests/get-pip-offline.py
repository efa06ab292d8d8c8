"""Offline replacement for the get-pip.py bootstrap script ansible-test downloads.

ansible-test bootstraps pip in its sanity venvs with a script fetched from a
host our machines cannot reach; it reads a cached copy first. tests/sanity.sh
puts this file in that cache: it installs the pip wheel bundled with Python
(ensurepip), then pip-installs the requested packages from the package index,
as get-pip.py does.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

env = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null in this process
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))

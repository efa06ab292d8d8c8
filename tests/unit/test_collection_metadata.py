"""The collection's metadata agrees with itself: version_added, galaxy.yml, the EE definition."""

import ast
import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def version_tuple(text):
    return tuple(int(part) for part in str(text).split("."))


def galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["version"]


def plugin_docs():
    """(path, DOCUMENTATION dict) of every documented plugin: Python plugins and filter sidecar files."""
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "*", "*.py"))):
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["DOCUMENTATION"]:
                yield path, yaml.safe_load(node.value.value)
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            yield path, yaml.safe_load(handle)["DOCUMENTATION"]


def test_every_version_added_is_a_version_of_this_collection():
    current = version_tuple(galaxy_version())
    docs = list(plugin_docs())
    assert len(docs) >= 20
    wrong = ["%s: version_added %s" % (os.path.relpath(path, ROOT), doc.get("version_added")) for path, doc in docs
             if not doc.get("version_added") or version_tuple(doc["version_added"]) > current]
    assert wrong == [], "version_added must be set and not newer than galaxy.yml's %s" % galaxy_version()


def test_every_filter_has_its_documentation_file():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py")):
        source = open(path, encoding="utf-8").read()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "filters":
                returned = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)][0]
                names.update(key.value for key in returned.keys)
    documented = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml"))}
    assert names and names == documented


def test_execution_environment_installs_the_tarball_of_this_version():
    with open(os.path.join(ROOT, "meta", "ee-collections.yml"), encoding="utf-8") as handle:
        wanted = yaml.safe_load(handle)["collections"]
    assert {"name": "collections/homelab-platform-%s.tar.gz" % galaxy_version(), "type": "file"} in wanted
    with open(os.path.join(ROOT, "execution-environment.yml"), encoding="utf-8") as handle:
        ee = yaml.safe_load(handle)
    assert ee["version"] == 3 and ee["dependencies"]["galaxy"] == "meta/ee-collections.yml"
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        core_pin = [line.strip() for line in handle if line.startswith("ansible-core==")]
    assert ee["dependencies"]["ansible_core"]["package_pip"] == core_pin[0]

"""The collection's metadata agrees with itself: version_added, galaxy.yml, the EE definition."""

import ast
import glob
import os
import re

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


# Role options a user may leave unset, each meaning something of its own (described in the spec): no default.
UNSET_BY_DESIGN = {
    "homelab_domain": "the inventory sets it; the roles that serve under it require it",
    "homelab_lan_cidr": "a host variable, only for hosts on a LAN",
    "homelab_kubeconfig": "unset: kubernetes.core's own default kubeconfig",
    "homelab_kube_context": "unset: the kubeconfig's current context",
    "k3s_token_new": "token_rotate's new token: the playbook asks for it",
}


def role_specs():
    """(role, entry point, option, option spec, the role's defaults/main.yml) of every role option."""
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = path.split(os.sep)[-3]
        defaults_path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
        defaults = {}
        if os.path.exists(defaults_path):
            with open(defaults_path, encoding="utf-8") as handle:
                defaults = yaml.safe_load(handle) or {}
        with open(path, encoding="utf-8") as handle:
            entries = yaml.safe_load(handle)["argument_specs"]
        for entry, spec in entries.items():
            yield role, entry, None, spec, defaults
            for option, option_spec in (spec.get("options") or {}).items():
                yield role, entry, option, option_spec, defaults


def computed(spec, value):
    """A default defaults/main.yml computes (a template) for a bool, int, list or dict: the spec cannot state it as a
    value of its type (antsibull-docs refuses it), its description says where it comes from."""
    return isinstance(value, str) and "{{" in value and spec.get("type", "str") not in ("str", "raw", "path")


def test_every_role_option_states_its_default_in_the_spec_as_defaults_main_sets_it():
    """ansible-doc -t role shows the spec: its default is the value defaults/main.yml gives the variable."""
    wrong = []
    for role, entry, option, spec, defaults in role_specs():
        if option is None or spec.get("required"):
            continue
        if option in defaults and computed(spec, defaults[option]):
            if "default" in spec or not re.search(r"default|derived|detected", str(spec.get("description"))):
                wrong.append("%s %s %s: a computed default, not in the spec, named in the description" % (
                    role, entry, option))
        elif option in defaults and spec.get("default", object()) != defaults[option]:
            wrong.append("%s %s %s: spec default %r, defaults/main.yml %r" % (
                role, entry, option, spec.get("default"), defaults[option]))
        elif option not in defaults and "default" not in spec and option not in UNSET_BY_DESIGN:
            wrong.append("%s %s %s: no default in the spec or defaults/main.yml, not required" % (role, entry, option))
    assert wrong == []


def test_every_role_entry_point_and_option_has_a_version_added_of_this_collection():
    current = version_tuple(galaxy_version())
    wrong = ["%s %s %s: %r" % (role, entry, option or "", spec.get("version_added"))
             for role, entry, option, spec, unused in role_specs()
             if not spec.get("version_added") or version_tuple(spec["version_added"]) > current]
    assert wrong == []


# What the collection may import from ansible-core: the APIs ansible-core documents for module and plugin authors
# (the module_utils, the errors, the inventory base classes, wrap_var for inventory data). A new entry is a public API
# checked in ansible-core's developer guide first; a private one (a leading underscore, the executor, the vars
# manager) is not an entry (issue 38).
PUBLIC_ANSIBLE = {"ansible.module_utils", "ansible.errors", "ansible.plugins.inventory", "ansible.utils.unsafe_proxy"}


def ansible_uses(path):
    """(line, what) of each ansible-core import and each underscore name reached through one, in one Python file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ansible":
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                yield node.lineno, "%s.%s" % (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ansible":
                    bound.add((alias.asname or alias.name).split(".")[0])
                    yield node.lineno, alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in bound:
            yield node.lineno, "%s.%s" % (node.value.id, node.attr)


def test_no_private_ansible_core_name_is_used():
    paths = sorted(glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True))
    uses = [(os.path.relpath(path, ROOT), line, what) for path in paths for line, what in ansible_uses(path)]
    assert any(what == "ansible.module_utils.basic.AnsibleModule" for unused_path, unused_line, what in uses)
    private = ["%s:%d %s" % use for use in uses
               if any(part.startswith("_") for part in use[2].split("."))
               or not any(use[2].startswith(prefix + ".") for prefix in PUBLIC_ANSIBLE)]
    assert private == [], "ansible-core names outside its public plugin APIs: %s" % private
    assert not os.path.exists(os.path.join(ROOT, "plugins", "action")), "no action plugin runs a module differently"

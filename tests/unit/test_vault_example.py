"""inventories/homelab/group_vars/all/vault.yml.example names every secret the example inventory reads."""

import pathlib
import re

import yaml

INVENTORY = pathlib.Path(__file__).resolve().parents[2] / "inventories" / "homelab"
EXAMPLE = INVENTORY / "group_vars" / "all" / "vault.yml.example"


def referenced():
    names = set()
    for path in INVENTORY.rglob("*.yml"):
        names.update(re.findall(r"\bvault_[a-z0-9_]+", path.read_text(encoding="utf-8")))
    return names


def test_every_vault_variable_the_inventory_reads_is_in_the_example():
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert referenced() - set(example) == set()


def test_the_example_holds_only_vault_variables_and_no_values():
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert all(name.startswith("vault_") for name in example)
    assert set(example.values()) == {""}  # a template: nobody commits a secret by copying it


def test_every_secret_a_role_takes_comes_from_the_vault_in_the_example_inventory():
    """Each role default that holds a secret is set from a vault_* variable (or shown so, commented out)."""
    secret = re.compile(r"^([a-z0-9_]+_(?:password|secret_key|api_key|api_token|authkey|master_key|encryption_key"
                        r"|access_key|token)):", re.M)
    roles = INVENTORY.parents[1] / "roles"
    secrets = {name for path in roles.glob("*/defaults/main.yml")
               for name in secret.findall(path.read_text(encoding="utf-8"))}
    assert secrets  # the pattern still finds the roles' secrets
    wired = set()
    for path in INVENTORY.rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^#?\s*([a-z0-9_]+):.*\bvault_", line)
            if match:
                wired.add(match.group(1))
    assert secrets - wired == set()

"""STAND-IN for K3s's secrets encryption, for the container lab only (part of the k3s stand-in).

What K3s does (docs.k3s.io/cli/secrets-encrypt; k3s-io/k3s pkg/secretsencrypt and
pkg/server/secrets-encrypt.go), done the same way here:
- A server started with `secrets-encryption: true` and no configuration yet writes
  <data-dir>/server/cred/encryption-config.json: an EncryptionConfiguration for `secrets` with the
  providers [aescbc{keys: [aescbckey]}, identity] (identity first = disabled), and
  encryption-state.json holding "<stage>-<sha256 of the config file>" (stage `start`).
- Each server's Node carries the annotation k3s.io/encryption-config-hash = that same string;
  requests are refused unless every control-plane Node's annotation agrees (the servers run the
  same configuration) and the stage allows the step.
- `rotate-keys` (v1.28+): a new key named aescbckey-<RFC 3339 time> is added and rotated first,
  the annotation becomes reencrypt_request-<hash>; the reencrypt controller then marks
  reencrypt_active, rewrites every Secret (so each is stored under the new key), drops the last
  (oldest) key and ends at reencrypt_finished-<hash of the new config>.
- The legacy steps (prepare, rotate, reencrypt) and enable/disable move the same state.
- Secrets are stored in etcd the kube-apiserver's way: k8s:enc:aescbc:v1:<key name>:<IV><AES-CBC,
  PKCS#7>; reads try every key of the configuration, and identity (plain) data.
The stand-in rewrites the Secrets synchronously in the request's thread, where K3s runs a
controller; the annotations, files and stages it leaves are the same.
"""
import base64
import datetime
import hashlib
import json
import os

START, PREPARE, ROTATE = "start", "prepare", "rotate"
REENCRYPT_REQUEST, REENCRYPT_ACTIVE, REENCRYPT_FINISHED = "reencrypt_request", "reencrypt_active", "reencrypt_finished"
ANNOTATION = "k3s.io/encryption-config-hash"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
PREFIX = b"k8s:enc:aescbc:v1:"
KEY_SIZE = 32


class EncryptionError(Exception):
    """A refused request, with K3s's reason."""


def go_json(obj):
    """encoding/json.Marshal's bytes: no spaces, fields in struct order (dicts keep insertion order)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def config_document(keys, enable):
    """The EncryptionConfiguration K3s writes (secretsencrypt.WriteEncryptionConfig)."""
    aescbc = {"aescbc": {"keys": [{"name": k["name"], "secret": k["secret"]} for k in keys]}}
    identity = {"identity": {}}
    return {"kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
            "resources": [{"resources": ["secrets"],
                           "providers": [aescbc, identity] if enable else [identity, aescbc]}]}


def new_key(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"name": "aescbckey-" + now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "secret": base64.b64encode(os.urandom(KEY_SIZE)).decode()}


class EncryptionState:
    """The server's encryption-config.json and encryption-state.json (under server/cred)."""

    def __init__(self, cred_dir):
        self.config_path = os.path.join(cred_dir, "encryption-config.json")
        self.hash_path = os.path.join(cred_dir, "encryption-state.json")

    def exists(self):
        return os.path.exists(self.config_path)

    def raw(self):
        with open(self.config_path, "rb") as handle:
            return handle.read()

    def providers(self):
        return json.loads(self.raw())["resources"][0]["providers"]

    def keys(self):
        providers = self.providers()
        if len(providers) > 2:
            raise EncryptionError("more than 2 providers (%d) found in secrets encryption" % len(providers))
        keys = []
        for provider in providers:
            if set(provider) - {"aescbc", "identity"}:
                raise EncryptionError("non-standard encryption keys found")
            keys.extend((provider.get("aescbc") or {}).get("keys") or [])
        return keys

    def enabled(self):
        """True, False, or None without a configuration (K3s's status: Disabled, no configuration file found)."""
        if not self.exists():
            return None
        providers = self.providers()
        return "aescbc" in providers[0] and "identity" in providers[1]

    def write(self, keys, enable):
        os.makedirs(os.path.dirname(self.config_path), exist_ok=True)
        fd = os.open(self.config_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(go_json(config_document(keys, enable)))
        os.replace(self.config_path + ".tmp", self.config_path)

    def config_hash(self):
        return hashlib.sha256(self.raw()).hexdigest()

    def reencrypt_hash(self, stage):
        """secretsencrypt.GenReencryptHash: the keys plus a placeholder key named after the stage."""
        keys = [{"name": k["name"], "secret": k["secret"]} for k in self.keys()] + [{"name": stage, "secret": "12345"}]
        return hashlib.sha256(go_json(keys)).hexdigest()

    def annotation(self):
        """What encryption-state.json holds ("<stage>-<hash>"), or None."""
        try:
            with open(self.hash_path, encoding="utf-8") as handle:
                return handle.read().strip() or None
        except OSError:
            return None

    def write_annotation(self, stage):
        value = "%s-%s" % (stage, self.config_hash())
        fd = os.open(self.hash_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        return value

    def ensure(self):
        """At a server's start with secrets-encryption: the first key and the start stage (once)."""
        if self.exists():
            return False
        self.write([{"name": "aescbckey", "secret": base64.b64encode(os.urandom(KEY_SIZE)).decode()}], True)
        self.write_annotation(START)
        return True


# --- the storage transformer (k8s.io/apiserver storage/value/encrypt/aes, CBC mode) ---------------

def _cipher(secret, iv):
    # python3-cryptography (Debian) in the lab image: the AES the kube-apiserver uses.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    return Cipher(algorithms.AES(base64.b64decode(secret)), modes.CBC(iv))


def encrypt(state, data):
    """`data` as stored in etcd under the active key; unchanged while identity comes first."""
    if not state.exists() or not state.enabled():
        return data
    from cryptography.hazmat.primitives import padding
    key = state.keys()[0]
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = _cipher(key["secret"], iv).encryptor()
    sealed = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    return PREFIX + key["name"].encode() + b":" + iv + sealed


def decrypt(state, data):
    """What etcd holds, read back: any key of the configuration, or identity (plain) data."""
    if not data.startswith(PREFIX):
        return data
    from cryptography.hazmat.primitives import padding
    # Each key is its own prefix (key names hold colons: aescbckey-2026-11-24T08:21:54Z), as in the
    # kube-apiserver's prefix transformers.
    found = [k for k in (state.keys() if state.exists() else []) if data.startswith(PREFIX + k["name"].encode() + b":")]
    if not found:
        raise EncryptionError("no key of the encryption configuration matches %s" % data[:64].decode(errors="replace"))
    rest = data[len(PREFIX) + len(found[0]["name"]) + 1:]
    decryptor = _cipher(found[0]["secret"], rest[:16]).decryptor()
    padded = decryptor.update(rest[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


SECRETS = "/registry/secrets/"


class SecretsCodec:
    """lab_apiserver.Etcd's codec: Secrets go through the server's encryption configuration, the rest
    is stored as it is. `error(message)` makes the exception a failed read raises (an API error)."""

    def __init__(self, state, error):
        self.state, self.error = state, error

    def encode(self, key, data):
        return encrypt(self.state, data) if key.startswith(SECRETS) else data

    def decode(self, key, data):
        if not key.startswith(SECRETS):
            return data
        try:
            return decrypt(self.state, data)
        except (EncryptionError, ValueError) as exc:
            raise self.error("unable to transform key %r: %s" % (key, exc)) from exc

    def stale(self, key, data):
        """Stored under another key than the first provider's (or encrypted while identity comes first)."""
        if not key.startswith(SECRETS):
            return False
        if not self.state.exists() or not self.state.enabled():
            return data.startswith(PREFIX)
        return not data.startswith(PREFIX + self.state.keys()[0]["name"].encode() + b":")


# --- the supervisor's encrypt handlers and the reencrypt controller -------------------------------

class Stages:
    """PUT /v1-k3s/encrypt/config and GET /v1-k3s/encrypt/status of one server.

    `call(method, path, body=None)` reaches the cluster's API and returns (code, object);
    `node` is this server's Node name; `flag` whether it runs with secrets-encryption."""

    def __init__(self, state, node, call, flag):
        self.state, self.node, self.call, self.flag = state, node, call, flag

    def _node(self):
        code, obj = self.call("GET", "/api/v1/nodes/%s" % self.node)
        if code != 200:
            raise EncryptionError("reading Node %s: HTTP %d" % (self.node, code))
        return obj

    def _annotate(self, value):
        code, _obj = self.call("PATCH", "/api/v1/nodes/%s" % self.node,
                               {"metadata": {"annotations": {ANNOTATION: value}}})
        if code != 200:
            raise EncryptionError("annotating Node %s: HTTP %d" % (self.node, code))

    def bootstrap_annotation(self):
        """The server's Node carries its encryption-state.json (K3s: at start, BootstrapEncryptionHashAnnotation)."""
        value = self.state.annotation()
        if value and ((self._node().get("metadata") or {}).get("annotations") or {}).get(ANNOTATION) != value:
            self._annotate(value)

    def _stage(self):
        node = self._node()
        if CONTROL_PLANE not in ((node.get("metadata") or {}).get("labels") or {}):
            raise EncryptionError("cannot manage secrets encryption on non control-plane node %s" % self.node)
        value = ((node.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
        if value is None:
            raise EncryptionError("missing annotation on node %s" % self.node)
        parts = value.split("-")
        if len(parts) != 2:
            raise EncryptionError("invalid annotation %s found on node %s" % (value, self.node))
        return parts[0], parts[1]

    def verify(self, allowed=""):
        """verifyEncryptionHashAnnotation: every server's annotation equal; then this one's stage in `allowed`."""
        code, nodes = self.call("GET", "/api/v1/nodes?labelSelector=%s%%3Dtrue" % CONTROL_PLANE)
        if code != 200:
            raise EncryptionError("listing the servers: HTTP %d" % code)
        first = None
        for item in nodes.get("items") or []:
            value = ((item.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
            if value is None:
                continue
            if first is None:
                first = (value, item["metadata"]["name"])
            elif value != first[0]:
                raise EncryptionError("hash does not match between %s and %s" % (first[1], item["metadata"]["name"]))
        if not allowed:
            return
        stage, digest = self._stage()
        if stage not in allowed.split("-"):
            raise EncryptionError("incorrect stage: %s found on node %s" % (stage, self.node))
        if digest != self.state.config_hash():
            raise EncryptionError("invalid hash: %s found on node %s" % (digest, self.node))

    def status(self):
        """EncryptionState as JSON (pkg/server/secrets-encrypt.go encryptionStatus)."""
        state = {"stage": "", "activekey": ""}
        if not self.state.exists():
            return state
        providers = self.state.providers()
        if "identity" in providers[1] and "aescbc" in providers[0]:
            state["enable"] = True
        elif ("identity" in providers[0] and "aescbc" in providers[1]) or not self.flag:
            state["enable"] = False
        try:
            self.verify()
            state["hashmatch"] = True
        except EncryptionError as exc:
            state["hasherror"] = str(exc)
        state["stage"] = self._stage()[0]
        active, inactive = True, []
        for provider in providers:
            for key in (provider.get("aescbc") or {}).get("keys") or []:
                if active:
                    state["activekey"], active = key["name"], False
                else:
                    inactive.append(key["name"])
            if "identity" in provider:
                active = False
        if inactive:
            state["inactivekeys"] = inactive
        return state

    def _write_stage(self, stage):
        self._annotate(self.state.write_annotation(stage))

    def _request_reencrypt(self):
        self._annotate("%s-%s" % (REENCRYPT_REQUEST, self.state.reencrypt_hash(REENCRYPT_REQUEST)))

    def prepare(self, force=False):
        try:
            self.verify(START + "-" + REENCRYPT_FINISHED)
        except EncryptionError:
            if not force:
                raise
        keys = self.state.keys() + [new_key()]
        self.state.write(keys, True)
        self._write_stage(PREPARE)

    def rotate(self, force=False):
        try:
            self.verify(PREPARE)
        except EncryptionError:
            if not force:
                raise
        keys = self.state.keys()
        self.state.write(keys[-1:] + keys[:-1], True)
        self._write_stage(ROTATE)

    def reencrypt(self, secrets, force=False, skip=False):
        try:
            self.verify(ROTATE)
        except EncryptionError:
            if not force:
                raise
        self._request_reencrypt()
        self.run_reencrypt(secrets, skip)

    def rotate_keys(self, secrets):
        self.verify(START + "-" + REENCRYPT_FINISHED)
        keys = self.state.keys() + [new_key()]
        self.state.write(keys[-1:] + keys[:-1], True)
        self._request_reencrypt()
        self.run_reencrypt(secrets, skip=False)

    def enable(self, secrets, enable):
        """encryptionEnable: the provider order flipped, then every Secret rewritten (skip: the stage stays)."""
        providers = self.state.providers()
        if len(providers) > 2:
            raise EncryptionError("more than 2 providers (%d) found in secrets encryption" % len(providers))
        enabled_now = "aescbc" in providers[0] and "identity" in providers[1]
        disabled_now = "identity" in providers[0] and "aescbc" in providers[1]
        if not enable and not enabled_now:
            return  # Secrets encryption already disabled
        if enable and not disabled_now:
            return  # Secrets encryption already enabled
        self.state.write(self.state.keys(), enable)
        self._request_reencrypt()
        self.run_reencrypt(secrets, skip=True)

    def run_reencrypt(self, secrets, skip):
        """The reencrypt controller (pkg/secretsencrypt/controller.go) for this server's request:
        active, every Secret rewritten (`secrets()` does it, returns how many), then, unless
        skipping, the oldest key dropped and the stage reencrypt_finished."""
        stage, digest = self._stage()
        if stage != REENCRYPT_REQUEST:
            return 0
        if digest != self.state.reencrypt_hash(REENCRYPT_REQUEST):
            raise EncryptionError("invalid hash: %s found on node %s" % (digest, self.node))
        self._annotate("%s-%s" % (REENCRYPT_ACTIVE, self.state.reencrypt_hash(REENCRYPT_ACTIVE)))
        count = secrets()
        if skip:  # back to the stage before the request
            self._annotate(self.state.annotation())
            return count
        keys = self.state.keys()
        self.state.write(keys[:-1], True)
        self._write_stage(REENCRYPT_FINISHED)
        return count

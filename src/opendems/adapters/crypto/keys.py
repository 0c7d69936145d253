"""The agency's keys: the key-encryption key that wraps every data key, and the signing key
for custody anchors. Both belong to the agency: a key file in the data directory (created
on first start, readable by the service account only) or an environment secret."""

from __future__ import annotations

import base64
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

KEK_ID_BYTES = 16


class KeyError_(Exception):
    """A key is missing, malformed or does not open what it should."""


@dataclass(frozen=True)
class KeyEncryptionKey:
    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise KeyError_("the key-encryption key must be 32 bytes (AES-256)")
        if not self.key_id or len(self.key_id.encode()) > KEK_ID_BYTES:
            raise KeyError_(f"key id must be 1-{KEK_ID_BYTES} bytes")

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self.secret, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        return aes_key_unwrap(self.secret, wrapped)


class Keyring:
    """Key-encryption keys by id: the current one wraps new data keys, older ones still open
    blobs wrapped before a rotation."""

    def __init__(self, current: KeyEncryptionKey, others: list[KeyEncryptionKey] | None = None):
        self.current = current
        self._by_id = {k.key_id: k for k in [*(others or []), current]}

    def get(self, key_id: str) -> KeyEncryptionKey:
        try:
            return self._by_id[key_id]
        except KeyError:
            raise KeyError_(f"no key-encryption key with id {key_id!r} is available") from None


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_keyring(key_dir: Path, *, env_secret: str | None, env_key_id: str) -> Keyring:
    """The keyring from the environment secret if given, else from ``key_dir`` (created once)."""
    if env_secret:
        try:
            secret = base64.b64decode(env_secret, validate=True)
        except ValueError as exc:
            raise KeyError_("OPENDEMS_KEK is not valid base64") from exc
        return Keyring(KeyEncryptionKey(env_key_id, secret))
    keys: list[KeyEncryptionKey] = []
    for path in sorted(key_dir.glob("kek-*.key")):
        secret = base64.b64decode(path.read_bytes().strip())
        keys.append(KeyEncryptionKey(path.stem.removeprefix("kek-"), secret))
    if not keys:
        path = key_dir / f"kek-{env_key_id}.key"
        _write_secret(path, base64.b64encode(os.urandom(32)) + b"\n")
        keys.append(KeyEncryptionKey(env_key_id, base64.b64decode(path.read_bytes().strip())))
    current_file = key_dir / "current"
    current_id = current_file.read_text().strip() if current_file.exists() else keys[-1].key_id
    current = next((k for k in keys if k.key_id == current_id), keys[-1])
    return Keyring(current, keys)


class Signer:
    """Ed25519 signatures over custody events and the chain anchor."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode()

    def verify(self, payload: bytes, signature: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature), payload)
        except Exception:
            return False
        return True

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def load_signer(key_dir: Path) -> Signer:
    path = key_dir / "custody-signing.pem"
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with contextlib.suppress(FileExistsError):  # another process created it first
            _write_secret(path, pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyError_(f"{path} is not an Ed25519 private key")
    return Signer(loaded)

"""Small secrets kept in the database (TOTP seeds), sealed with AES-256-GCM under a key
derived from the agency key-encryption key, so a copy of the database alone cannot mint
one-time codes."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from opendems.adapters.crypto.keys import KeyError_, Keyring

_INFO = b"opendems database secrets v1"


def _key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


class SecretBox:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def seal(self, plaintext: bytes, *, context: str) -> str:
        kek = self._keyring.current
        nonce = os.urandom(12)
        sealed = AESGCM(_key(kek.secret)).encrypt(nonce, plaintext, context.encode())
        return f"v1:{kek.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, context: str) -> bytes:
        try:
            version, key_id, body = token.split(":", 2)
            if version != "v1":
                raise ValueError(version)
            raw = base64.b64decode(body)
            kek = self._keyring.get(key_id)
            return AESGCM(_key(kek.secret)).decrypt(raw[:12], raw[12:], context.encode())
        except KeyError_:
            raise
        except Exception as exc:
            raise KeyError_("a sealed secret does not open with the agency key") from exc

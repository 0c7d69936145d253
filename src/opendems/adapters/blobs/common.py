"""What every blob store shares: the key format and how much plaintext a staged blob shows."""

from __future__ import annotations

from opendems.domain.errors import NotFound

HEAD_BYTES = 8192  # plaintext kept with a staged blob, for content-type detection
_HEX = frozenset("0123456789abcdef")


def key_digest(key: str) -> str:
    """The SHA-256 hex digest a blob key ``sha256/<hex>`` names; ``NotFound`` for anything else
    (so a malformed key reads exactly like a missing blob, and never reaches a path or URL)."""
    algo, _, digest = key.partition("/")
    if algo != "sha256" or len(digest) != 64 or not set(digest) <= _HEX:
        raise NotFound(f"no blob {key!r}")
    return digest

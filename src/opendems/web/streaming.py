"""Moving request bodies into blob writers without blocking the event loop."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable

from anyio import to_thread

from opendems.domain.errors import Invalid

BLOCK = 4 * 1024 * 1024


async def feed(chunks: AsyncIterator[bytes], write: Callable[[memoryview], None]) -> int:
    """Hand the body to ``write`` in large blocks on a worker thread. Returns bytes fed.

    One block buffer is reused for the whole body (``write`` must not keep the view), so a
    large upload allocates no memory per block.
    """
    total = 0
    block = bytearray(BLOCK)
    view = memoryview(block)
    fill = 0
    async for chunk in chunks:
        while chunk:
            take = min(len(chunk), BLOCK - fill)
            view[fill : fill + take] = chunk[:take] if take < len(chunk) else chunk
            chunk = chunk[take:]
            fill += take
            if fill == BLOCK:
                await to_thread.run_sync(write, view)
                total += fill
                fill = 0
    if fill:
        await to_thread.run_sync(write, view[:fill])
        total += fill
    return total


def sha256_from_digest_header(value: str | None) -> str | None:
    """The SHA-256 (hex) in an RFC 9530 ``Repr-Digest``/``Content-Digest`` header, if any."""
    if not value:
        return None
    for member in value.split(","):
        algo, _, encoded = member.strip().partition("=")
        if algo.strip().lower() != "sha-256":
            continue
        raw = encoded.strip().strip(":")
        try:
            digest = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("the sha-256 digest header is not valid base64") from None
        if len(digest) != 32:
            raise Invalid("the sha-256 digest header does not hold 32 bytes")
        return digest.hex()
    return None


def repr_digest(sha256_hex: str) -> str:
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"

"""Moving request bodies into blob writers, and stored bytes into responses, without blocking
the event loop."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
from anyio import CancelScope, to_thread

from opendems.buffers import byte_pool
from opendems.domain.errors import Invalid

BLOCK = 4 * 1024 * 1024
# A request's two blocks come from the process's pool: made afresh for every request, a tus
# upload in 16 MiB PATCHes zeroed and faulted in half as many bytes again as it received.
_BLOCKS = byte_pool(BLOCK)


async def feed(chunks: AsyncIterator[bytes], write: Callable[[memoryview], None]) -> int:
    """Hand the body to ``write`` in large blocks on a worker thread. Returns bytes fed.

    Two block buffers are reused for the whole body: while a worker thread hashes,
    encrypts and stores one block, the event loop receives the next into the other. So
    receiving and storing overlap, and a large upload allocates no memory per block.
    ``write`` must not keep the view it is given.
    """
    filled_send, filled_recv = anyio.create_memory_object_stream[tuple[bytearray, int]](1)
    free_send, free_recv = anyio.create_memory_object_stream[bytearray](2)
    blocks = [_BLOCKS.get(), _BLOCKS.get()]
    for block in blocks:
        free_send.send_nowait(block)
    total = 0

    async def store() -> None:
        async with filled_recv:
            async for block, length in filled_recv:
                await to_thread.run_sync(write, memoryview(block)[:length])
                await free_send.send(block)

    async def receive() -> None:
        nonlocal total
        async with filled_send:
            block = await free_recv.receive()
            fill = 0
            async for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    take = min(len(view), BLOCK - fill)
                    block[fill : fill + take] = view[:take]
                    view = view[take:]
                    fill += take
                    if fill == BLOCK:
                        await filled_send.send((block, fill))
                        total += fill
                        block = await free_recv.receive()
                        fill = 0
            if fill:
                await filled_send.send((block, fill))
                total += fill

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store)
            await receive()
    except BaseExceptionGroup as group:
        # Report the first real failure (a client disconnect, a full disk...) as itself.
        raise _first(group) from None
    finally:
        # The task group has ended, and a worker thread is never abandoned: no write holds a
        # block any longer.
        for block in blocks:
            _BLOCKS.give(block)
    return total


def _first(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


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


RECHECK_EVERY = 64 * 1024 * 1024  # a transfer that may be stopped asks whether to go on this often


async def send(
    chunks: Iterator[bytes],
    *,
    done: Callable[[int, float, bool], None] | None = None,
    still_open: Callable[[], bool] | None = None,
) -> AsyncIterator[bytes]:
    """A response body from a blocking iterator, each chunk read on a worker thread. ``done``
    gets (bytes sent, seconds, complete) however the transfer ends -- a client gone, an error
    -- to record it; ``still_open`` is asked every 64 MiB, and False (a share revoked
    meanwhile) ends the transfer there."""
    started = time.monotonic()
    sent = 0
    complete = False
    try:
        while True:
            chunk = await to_thread.run_sync(next, chunks, None)
            if chunk is None:
                complete = True
                break
            yield chunk
            sent += len(chunk)
            crossed = sent // RECHECK_EVERY != (sent - len(chunk)) // RECHECK_EVERY
            if still_open is not None and crossed and not await to_thread.run_sync(still_open):
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        if done is not None:
            finish = done
            seconds = time.monotonic() - started
            with CancelScope(shield=True):
                await to_thread.run_sync(lambda: finish(sent, seconds, complete))

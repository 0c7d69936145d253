"""H.264 encoded by several x264 instances at once, a chunk of frames each, into one stream.

One x264 instance stops scaling long before a large machine runs out of cores (on 16 cores
it encoded 720p at about 430 frames a second, far behind the decoder). Here the frames are
dealt out in chunks of consecutive frames, chunk ``c`` to worker ``c % workers``; each chunk
is encoded from its own IDR frame by a fresh encoder with the output stream's own settings,
so the chunks' packets simply follow one another in the stream: the same sequence and
picture parameters (the stream's, written once in the MP4 header), decoding timestamps that
go on where the last chunk's stopped (every chunk has the same reordering delay). The
packets are handed back in chunk order as soon as the chunks before them are done.

Memory: a worker holds up to one chunk of frames waiting; the chunk length is chosen by the
caller so that ``workers * chunk`` frames fit the memory it allows.
"""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from typing import Any

import av

_STOP = object()


class ChunkedEncoder:
    """Encode frames in order through ``workers`` x264 instances; collect packets in order."""

    def __init__(
        self,
        stream: Any,
        *,
        workers: int,
        chunk: int,
        options: dict[str, str],
        rate: Fraction,
        threads_each: int,
    ) -> None:
        if workers < 1 or chunk < 1:
            raise ValueError("workers and chunk must be at least 1")
        self.stream = stream
        self.chunk = chunk
        self.options = {**options, "threads": str(max(1, threads_each))}
        self.rate = rate
        source = stream.codec_context
        self.width, self.height, self.pix_fmt = source.width, source.height, source.pix_fmt
        self.time_base = source.time_base
        self.queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=chunk + 1) for _ in range(workers)]
        self.finished: dict[int, list[Any]] = {}
        self.failure: list[BaseException] = []
        self.lock = threading.Lock()
        self.count = 0
        self.next_out = 0
        self.threads = [
            threading.Thread(target=self._work, args=(q,), name=f"opendems-x264-{i}", daemon=True)
            for i, q in enumerate(self.queues)
        ]
        for t in self.threads:
            t.start()

    def _context(self) -> Any:
        ctx: Any = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, self.pix_fmt
        ctx.time_base = self.time_base
        ctx.framerate = self.rate
        ctx.flags |= av.codec.context.Flags.global_header  # headers once, in the MP4's sample entry
        ctx.options = dict(self.options)
        return ctx

    def _work(self, q: queue.Queue[Any]) -> None:
        ctx: Any = None
        packets: list[Any] = []
        while (item := q.get()) is not _STOP:
            if self.failure:
                continue  # drain: the producer must never block on a dead worker
            kind, index, frame = item
            try:
                if kind == "frame":
                    if ctx is None:
                        ctx = self._context()
                    packets.extend(ctx.encode(frame))
                else:  # the chunk is complete
                    if ctx is not None:
                        packets.extend(ctx.encode(None))
                    with self.lock:
                        self.finished[index] = packets
                    ctx, packets = None, []
            except BaseException as exc:
                self.failure.append(exc)

    def _check(self) -> None:
        if self.failure:
            raise self.failure[0]

    def put(self, frame: Any) -> None:
        """The next frame, in presentation order."""
        self._check()
        index = self.count // self.chunk
        if self.count and self.count % self.chunk == 0:
            previous = index - 1
            self.queues[previous % len(self.queues)].put(("end", previous, None))
        self.queues[index % len(self.queues)].put(("frame", index, frame))
        self.count += 1

    def ready(self) -> list[Any]:
        """Packets of the chunks now complete that follow the ones handed back already."""
        self._check()
        out: list[Any] = []
        with self.lock:
            while self.next_out in self.finished:
                out.extend(self.finished.pop(self.next_out))
                self.next_out += 1
        for p in out:
            p.stream = self.stream
        return out

    def finish(self) -> list[Any]:
        """Close the last chunk, wait for every worker, and hand back the remaining packets."""
        if self.count:
            last = (self.count - 1) // self.chunk
            self.queues[last % len(self.queues)].put(("end", last, None))
        self.stop()
        return self.ready()

    def stop(self) -> None:
        """End the workers (after what they were given), e.g. when the render fails."""
        for q in self.queues:
            q.put(_STOP)
        for t in self.threads:
            t.join()

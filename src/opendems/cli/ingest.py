"""``opendems ingest``: offload files and folders (a camera dock) into the vault."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from opendems.bootstrap import Container
from opendems.cli.runtime import console
from opendems.domain.errors import DomainError
from opendems.services import search as search_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream

READ_BLOCK = 8 * 1024 * 1024


@dataclass
class Outcome:
    path: Path
    status: str  # stored | duplicate | failed | skipped
    evidence_id: str | None = None
    sha256: str | None = None
    message: str | None = None
    size: int = 0


def walk(paths: list[Path], own: list[Path] | None = None) -> tuple[list[Path], list[Outcome]]:
    """Regular files under the given paths, in a stable order, and the paths that are not.

    ``own`` are OpenDEMS's own folders (the data directory, the key directory): nothing in
    them is evidence. A walk that meets one does not go in, and says so (``skipped``): offloading
    a folder that holds the vault must not store its database, blobs and keys as evidence."""
    files: list[Path] = []
    bad: list[Outcome] = []
    mine = [Path(os.path.realpath(p)) for p in own or []]

    def vault(path: Path) -> Outcome | None:
        """``skipped`` when ``path`` is, or leads into, one of ``own``."""
        real = Path(os.path.realpath(path))
        folder = next((m for m in mine if real == m or m in real.parents), None)
        if folder is None:
            return None
        where = "" if real == folder else f" ({folder})"
        return Outcome(path, "skipped", message=f"OpenDEMS's own storage{where}; not evidence")

    for root in paths:
        if root.exists() and (skipped := vault(root)):
            bad.append(skipped)
        elif root.is_file():
            files.append(root)
        elif root.is_dir():
            for here, dirs, names in os.walk(root):
                dirs.sort()
                for name in list(dirs):
                    if skipped := vault(Path(here) / name):
                        dirs.remove(name)
                        bad.append(skipped)
                for name in sorted(names):
                    candidate = Path(here) / name
                    # Only a link can lead into the vault from a folder outside it.
                    if candidate.is_symlink() and (skipped := vault(candidate)):
                        bad.append(skipped)
                    elif candidate.is_file():
                        files.append(candidate)
                    else:
                        bad.append(Outcome(candidate, "failed", message="not a regular file"))
        else:
            bad.append(Outcome(root, "failed", message="no such file or folder"))
    return files, bad


_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opendems-read")


def _chunks(path: Path, progress: Progress, task: TaskID) -> Iterator[memoryview]:
    """The file in large blocks, reading the next block while the current one is stored.

    Two buffers alternate: a block handed out is fully consumed (hashed, encrypted,
    written) before the next is asked for, so its buffer is free to be read into again."""
    buffers = [bytearray(READ_BLOCK), bytearray(READ_BLOCK)]
    with path.open("rb", buffering=0) as f:
        pending = _READER.submit(f.readinto, buffers[0])
        turn = 0
        while True:
            n = pending.result()
            if not n:
                return
            current = buffers[turn]
            turn ^= 1
            pending = _READER.submit(f.readinto, buffers[turn])
            try:
                yield memoryview(current)[:n]
            except GeneratorExit:
                pending.result()  # never close the file under a running read
                raise
            progress.advance(task, n)


def ingest_paths(
    c: Container, who: Actor, paths: list[Path], template: IngestRequest, *, show_progress: bool
) -> tuple[list[Outcome], bool]:
    """Ingest every file; returns the outcomes and whether the user interrupted."""
    files, outcomes = walk(paths, own=[c.settings.data_dir, c.settings.key_dir])
    total = sum(_size(f) for f in files)
    columns = (
        TextColumn("[bold]{task.fields[count]}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("", total=total, count=f"0/{len(files)} files")
        for index, path in enumerate(files, start=1):
            progress.update(task, description=path.name[:40], count=f"{index}/{len(files)} files")
            req = IngestRequest(**{**template.__dict__, "filename": path.name, "tags": list(template.tags)})
            before = progress.tasks[0].completed
            try:
                result = ingest_stream(
                    who,
                    req,
                    _chunks(path, progress, task),
                    # Words are indexed with each file; meaning vectors after the last one
                    # (``index_meaning``), so the model does not load beside the first file.
                    uow=c.uow(meaning=False),
                    blobs=c.blobs,
                    clock=c.clock,
                    limits=c.limits,
                )
            except DomainError as exc:
                outcomes.append(Outcome(path, "failed", message=exc.message))
            except OSError as exc:
                outcomes.append(Outcome(path, "failed", message=exc.strerror or str(exc)))
            except KeyboardInterrupt:
                outcomes.append(Outcome(path, "failed", message="interrupted; this file was not kept"))
                outcomes.extend(
                    Outcome(p, "failed", message="not started (interrupted)") for p in files[index:]
                )
                return outcomes, True
            except Exception as exc:  # one bad file must not stop a dock offload
                outcomes.append(Outcome(path, "failed", message=f"unexpected error: {exc}"))
            else:
                sha = result.item.original.sha256 if result.item.original else None
                status = "duplicate" if result.duplicate else "stored"
                note = "; ".join(result.warnings) or None
                size = result.item.original.size if result.item.original else 0
                outcomes.append(Outcome(path, status, result.item.id, sha, note, size))
            # Keep the bar honest when a file was skipped or failed before its end.
            progress.update(task, completed=before + _size(path))
    return outcomes, False


def index_meaning(c: Container, who: Actor, outcomes: list[Outcome], *, show_progress: bool) -> str | None:
    """Embed the stored items' documents for meaning search, after the last file. Returns a
    warning to show when it failed: the evidence is stored whatever happens here, words find
    it, and the server completes the vectors (of these items, or of an earlier run's that
    stopped before this step) when it next starts."""
    ids = [o.evidence_id for o in outcomes if o.evidence_id and o.status == "stored"]
    if not ids or c.embedder is None:
        return None
    try:
        with console.status("Indexing for meaning search") if show_progress else nullcontext():
            search_svc.index_meaning(who, ids, uow=c.uow())
    except (Exception, KeyboardInterrupt) as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
        return (
            f"the meaning-search index was not updated ({reason}): words find these items now, "
            "meaning search once the server next starts"
        )
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def summary_table(outcomes: list[Outcome], limit: int = 50) -> Table:
    table = Table(title="Ingest summary", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("result")
    table.add_column("evidence")
    table.add_column("sha256")
    shown = (
        outcomes
        if len(outcomes) <= limit
        else [o for o in outcomes if o.status in ("failed", "skipped")][:limit]
    )
    for o in shown:
        colour = {"stored": "green", "duplicate": "yellow", "failed": "red", "skipped": "yellow"}[o.status]
        result = f"[{colour}]{o.status}[/{colour}]"
        table.add_row(
            Text(printable(str(o.path))),
            Text.from_markup(result) if not o.message else _result_text(o, colour),
            o.evidence_id or "",
            (o.sha256 or "")[:16],
        )
    return table


def printable(text: str) -> str:
    """Show control characters as escapes so a file name cannot drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _result_text(o: Outcome, colour: str) -> Text:
    text = Text(o.status, style=colour)
    text.append(": " + printable(o.message or ""))
    return text

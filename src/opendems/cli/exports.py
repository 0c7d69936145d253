"""``opendems export``: court export packages from the command line, and the offline check of a
package (a folder or its ZIP) that anyone can run without this server's data."""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opendems.cli.runtime import clear_errors, console, err, fail, state
from opendems.domain.exports import ExportContent, ExportState
from opendems.domain.jobs import JobState
from opendems.services import exports as svc
from opendems.services.jobs import worker_name
from opendems.services.share_access import export_layout, zip_reader
from opendems.services.zipstream import stream_zip

export_app = typer.Typer(help="Court export packages (BagIt).", no_args_is_help=True)


@export_app.command("create")
@clear_errors
def create(
    title: Annotated[str, typer.Option("--title", help="What the package is, e.g. 'People v. Doe'.")],
    case: Annotated[str | None, typer.Option("--case", help="Export every item of this case.")] = None,
    evidence_ids: Annotated[list[str] | None, typer.Argument(help="Evidence ids to export.")] = None,
    redacted: Annotated[bool, typer.Option("--redacted", help="The newest redacted copies.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Build it now and wait.")] = True,
) -> None:
    """Export items (or a case) as a BagIt package with custody reports and provenance."""
    c = state.container()
    export = svc.create_export(
        state.actor("export create"),
        title=title,
        evidence_ids=list(evidence_ids or []),
        case_number=case,
        content=ExportContent.REDACTED if redacted else ExportContent.ORIGINAL,
        uow=c.uow(),
        clock=c.clock,
    )
    console.print(f"Export {export.id} queued: {len(export.evidence_ids)} item(s)")
    if not wait:
        return
    actor = state.actor("export create")
    status = svc.export_status(actor, export.id, uow=c.uow(), clock=c.clock)
    if status.job is not None:
        c.processor.run_job(status.job.id, worker_name("cli"))  # a server's worker may have it: wait
        status = svc.export_status(actor, export.id, uow=c.uow(), clock=c.clock)
    while status.export.state is ExportState.BUILDING and status.job and status.job.state is JobState.RUNNING:
        time.sleep(0.5)
        status = svc.export_status(actor, export.id, uow=c.uow(), clock=c.clock)
    if status.export.state is not ExportState.READY:
        why = status.export.error or (status.job.error if status.job else None) or "it is still being built"
        raise fail(f"export {export.id} is not ready: {why}")
    console.print(
        f"Export {export.id} is ready: {len(status.export.files)} files, {status.export.size:,} bytes"
    )


@export_app.command("list")
@clear_errors
def listing() -> None:
    """The court exports you may see."""
    c = state.container()
    table = Table("Export", "Title", "Case", "Items", "State", "Size", "By", "Requested")
    for e in svc.list_exports(state.actor("export list"), uow=c.uow()):
        table.add_row(
            e.id, e.title, e.case_number or "", str(len(e.evidence_ids)), e.state.value,
            f"{e.size:,}" if e.size else "", e.created_by_name, f"{e.created_at:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    console.print(table)


@export_app.command("download")
@clear_errors
def download(
    export_id: Annotated[str, typer.Argument(help="The export, e.g. EX-2026-000001.")],
    to: Annotated[
        Path, typer.Option("--to", help="Where to write the ZIP (a folder or a file name).")
    ] = Path(),
) -> None:
    """Write a ready package as a ZIP (recorded in custody like any download)."""
    c = state.container()
    actor = state.actor("export download")
    grant = svc.grant_package(actor, export_id, None, uow=c.uow(), clock=c.clock)
    target = to / grant.export.zip_name if to.is_dir() else to
    if target.exists():
        raise fail(f"{target} exists already; choose another name")
    layout, sources = export_layout(grant.export)
    crcs = dict(grant.crcs)
    partial = target.with_name(target.name + ".part")
    sent = 0
    try:
        with partial.open("wb") as out:
            for chunk in stream_zip(layout, 0, len(layout) - 1, zip_reader(sources, c.blobs, crcs), crcs):
                out.write(chunk)
                sent += len(chunk)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
        svc.record_package_transfer(
            actor,
            grant.export.id,
            bytes_sent=sent,
            seconds=0.0,
            complete=target.exists(),
            uow=c.uow(),
            clock=c.clock,
        )
    console.print(f"Wrote {target} ({sent:,} bytes)")


@export_app.command("verify")
@clear_errors
def verify(
    package: Annotated[Path, typer.Argument(help="A package: its folder, or the ZIP it came as.")],
) -> None:
    """Check a package on its own (no server data needed): every file against the BagIt
    manifests, and nothing missing or added. Exit non-zero on any problem."""
    import bagit

    if not package.exists():
        raise fail(f"{package} does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        folder = package
        if package.is_file():
            try:
                with zipfile.ZipFile(package) as z:
                    z.extractall(tmp)
            except zipfile.BadZipFile:
                raise fail(f"{package} is neither a package folder nor a ZIP") from None
            found = [p.parent for p in Path(tmp).rglob("bagit.txt")]
            if len(found) != 1:
                raise fail(f"{package} does not hold one BagIt package")
            folder = found[0]
        try:
            bag = bagit.Bag(str(folder))
            bag.validate(processes=2)
        except bagit.BagValidationError as exc:
            for detail in getattr(exc, "details", [])[:50]:
                err.print(f"[red]FAIL[/red] {detail}")
            raise fail(f"the package does not verify: {exc.message}") from None
        except bagit.BagError as exc:
            raise fail(f"not a valid package: {exc}") from None
        files = len(bag.payload_entries())
        console.print(f"[green]OK[/green] {bag.info.get('External-Identifier', folder.name)}: {files} payload files "
                      "match their SHA-256, and the tag files match theirs")  # fmt: skip

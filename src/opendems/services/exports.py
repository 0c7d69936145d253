"""Court export packages: request one, build it (a job), follow it, download it.

The package is a BagIt bag (RFC 8493) with SHA-256 manifests. Its payload holds, per item,
the original (or its newest redacted copy) and a chain-of-custody report as PDF and JSON;
and for the whole package a CASE/UCO provenance graph and a certificate of authenticity for
a custodian to sign (US Federal Rule of Evidence 902(14)). Building it re-reads every
payload file and checks its SHA-256 against the one recorded at acquisition: the package
never carries bytes that differ from what was acquired.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from opendems import __version__
from opendems.domain.access import Permission
from opendems.domain.custody import CustodyEvent, format_time
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import EvidenceItem
from opendems.domain.exports import (
    MAX_EXPORT_ITEMS,
    Export,
    ExportContent,
    ExportState,
    PackageFile,
    check_title,
    safe_name,
)
from opendems.domain.jobs import Job, PermanentFailure
from opendems.domain.provenance import case_uco_graph
from opendems.domain.reports import CustodyReport, ReportEvent, ReportFile
from opendems.domain.sharing import ShareContent, served_file
from opendems.ports import BlobStore, Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record, record_transfer
from opendems.services.evidence import load_item
from opendems.services.jobs import StepContext

EXPORT_JOB = "export"
_EXT = {
    "video/mp4": "mp4",
    "audio/mp4": "m4a",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/pdf": "pdf",
    "application/json": "json",
    "text/vtt": "vtt",
}
_READ_WORKERS = 2


def load_export(actor: Actor, export_id: str, *, action: str, uow: UnitOfWork, clock: Clock) -> Export:
    """An export the actor may have: it may download every item in it (or reaches the export
    through a share)."""
    export = uow.exports.get(export_id.strip().upper())
    if export is None:
        raise NotFound(f"export {export_id} not found")
    if actor.principal.via == "share":
        from opendems.domain.access import ObjectAttrs

        authorize(
            uow,
            actor,
            Permission.EVIDENCE_DOWNLOAD,
            clock=clock,
            action=action,
            object_type="export",
            object_id=export.id,
            attrs=ObjectAttrs(key=f"export:{export.id}"),
        )
        return export
    for evidence_id in export.evidence_ids:
        item = uow.evidence.get(evidence_id)
        if item is None:
            raise NotFound(f"export {export.id} not found")
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_DOWNLOAD,
            clock=clock,
            action=action,
            object_type="export",
            object_id=export.id,
            item=item,
        )
    return export


def create_export(
    actor: Actor,
    *,
    title: str,
    evidence_ids: list[str],
    case_number: str | None,
    content: ExportContent,
    uow: UnitOfWork,
    clock: Clock,
) -> Export:
    """Queue a court export of items or of a case's items."""
    title = check_title(title)
    now = clock.now()
    with uow:
        raw = list(evidence_ids)
        case = None
        if case_number:
            from opendems.services.cases import load_case

            case = load_case(actor, case_number, uow=uow, clock=clock)
            raw += uow.cases.evidence_ids(case.number)
        items: dict[str, EvidenceItem] = {}
        for value in raw:
            item = load_item(
                actor, value, Permission.EVIDENCE_DOWNLOAD, "evidence:export", uow=uow, clock=clock
            )
            items[item.id] = item
        if not items:
            raise Invalid("choose at least one item, or a case with evidence, to export")
        if len(items) > MAX_EXPORT_ITEMS:
            raise Invalid(f"an export holds at most {MAX_EXPORT_ITEMS} items")
        missing = [i for i in items.values() if served_file(i, ShareContent(content.value)) is None]
        if missing:
            raise Invalid(
                f"{len(missing)} of the items have no {content.value} copy: "
                + ", ".join(i.id for i in missing[:10])
            )
        number = uow.evidence.next_number(f"export-{now.year}")
        export = Export(
            id=f"EX-{now.year}-{number:06d}",
            title=title,
            content=content,
            evidence_ids=list(items),
            created_by=actor.principal.id,
            created_by_name=actor.principal.name,
            created_at=now,
            state=ExportState.BUILDING,
            case_number=case.number if case else None,
        )
        uow.exports.add(export)
        record(
            uow,
            actor,
            "export:create",
            "export",
            export.id,
            clock=clock,
            details={
                "title": title,
                "case": export.case_number,
                "content": content.value,
                "items": export.evidence_ids,
            },
        )
        for item in items.values():
            served = served_file(item, ShareContent(content.value))
            assert served is not None
            record(
                uow,
                actor,
                "evidence:export",
                "evidence",
                item.id,
                clock=clock,
                details={"export": export.id, "content": served.role, "sha256": served.sha256},
            )
        uow.jobs.enqueue(f"{EXPORT_JOB}:{export.id}", None, now)
        uow.commit()
        return export


def list_exports(actor: Actor, *, uow: UnitOfWork) -> list[Export]:
    with uow.for_reading() as reader:
        agency = Permission.SCOPE_AGENCY in actor.principal.permissions
        return reader.exports.listing(created_by=None if agency else actor.principal.id)


@dataclass(frozen=True)
class ExportStatus:
    export: Export
    job: Job | None


def export_status(actor: Actor, export_id: str, *, uow: UnitOfWork, clock: Clock) -> ExportStatus:
    with uow:
        export = load_export(actor, export_id, action="export:view", uow=uow, clock=clock)
        jobs = uow.jobs.of_kinds([f"{EXPORT_JOB}:{export.id}"])
        return ExportStatus(export, jobs[0] if jobs else None)


# Building the package (the job step)


def _verify_payload(
    blobs: BlobStore, files: list[tuple[str, str, int]], report: Callable[[float], None]
) -> None:
    """Re-read every payload blob and compare its SHA-256 with the recorded one."""
    total = sum(size for _, _, size in files) or 1
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        report(0.9 * done / total)

    found = blobs.sha256_many(list(dict.fromkeys(k for k, _, _ in files)), progress)
    failures = [
        f"stored file {key} hashes to {found[key]}, not the recorded {expected}"
        for key, expected, _ in files
        if found[key] != expected
    ]
    if failures:
        raise PermanentFailure("; ".join(failures))


def _report_of(
    item: EvidenceItem, events: list[CustodyEvent], chain: tuple[bool, str], ctx: StepContext, by: str
) -> CustodyReport:
    assert item.original is not None
    o = item.original
    files = [ReportFile("original", o.filename, o.mime_type, o.size, o.sha256, format_time(o.stored_at))]
    for d in item.derivatives:
        if d.source_sha256 == o.sha256:
            files.append(
                ReportFile(
                    d.kind,
                    f"{d.kind}.{_EXT.get(d.mime_type, 'bin')}",
                    d.mime_type,
                    d.size,
                    d.sha256,
                    format_time(d.created_at),
                    source_sha256=d.source_sha256,
                    tool=f"{d.tool} {d.tool_version}".strip(),
                    parameters=d.parameters,
                )
            )
    device = ", ".join(x for x in (item.device_make, item.device_model) if x) or None
    if item.device_serial:
        device = f"{device or 'device'}, serial {item.device_serial}"
    location = (
        f"{item.latitude:.6f}, {item.longitude:.6f}"
        if item.latitude is not None and item.longitude is not None
        else None
    )
    own_ok = all(e.compute_hash() == e.event_hash for e in events)
    ok = chain[0] and own_ok
    status = chain[1] if own_ok else "one or more of this item's custody events were altered"
    return CustodyReport(
        agency=ctx.agency,
        evidence_id=item.id,
        title=item.title,
        kind=item.kind.value,
        case_numbers=list(item.case_numbers),
        captured_at=format_time(item.captured_at) if item.captured_at else None,
        captured_by=item.captured_by,
        device=device,
        location=location,
        files=files,
        events=[
            ReportEvent(
                e.seq,
                e.at,
                e.action,
                e.actor_name,
                e.actor_id,
                e.outcome,
                e.reason,
                e.service,
                e.endpoint,
                e.client_address,
                e.details_dict,
                e.event_hash,
            )
            for e in events
        ],
        chain_ok=ok,
        chain_status=status,
        generated_at=format_time(ctx.clock.now()),
        generated_by=by,
    )


def _put(ctx: StepContext, data: bytes) -> tuple[str, str, int]:
    writer = ctx.blobs.writer()
    try:
        writer.write(data)
        staged = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return ctx.blobs.commit(staged), staged.sha256, staged.size


def certificate(export: Export, agency: str, rows: list[tuple[str, str, str, int]], when: str) -> str:
    """A certificate of authenticity under FRE 902(14), for a custodian to complete and sign."""
    listing = "\n".join(f"  {sha}  {size:>14,} bytes  {eid}  {path}" for eid, path, sha, size in rows)
    return f"""CERTIFICATE OF AUTHENTICITY OF DATA COPIED FROM AN ELECTRONIC DEVICE, STORAGE MEDIUM OR FILE
(Federal Rules of Evidence 902(11) and 902(14))

Export package:   {export.id} -- {export.title}
Case:             {export.case_number or "(none)"}
Prepared:         {when} by {export.created_by_name}, with OpenDEMS {__version__}
Agency:           {agency}

I, ______________________________ (name), certify under penalty of perjury under the laws of
the United States of America (28 U.S.C. 1746) that the following is true and correct:

1. I am employed by {agency} as ______________________________ (title), and I am a custodian
   of its digital evidence or otherwise qualified by my duties to make this certification.

2. The files listed below were acquired and kept in the agency's digital evidence management
   system, in the regular course of its activity. At acquisition the system computed each
   original's SHA-256 hash value and recorded it in an append-only, hash-chained custody log.

3. When this package was prepared, each file was read back from storage and its SHA-256 hash
   value was computed again; each matched the value recorded at acquisition. Identical
   SHA-256 hash values show that the copies in this package are true duplicates of the files
   as acquired (process of digital identification, FRE 902(14)).

4. The package follows BagIt (RFC 8493). Anyone can check it without this system: every file
   of the package is listed with its SHA-256 in manifest-sha256.txt (for example with
   "sha256sum -c manifest-sha256.txt" in the package folder), and the chain-of-custody
   report of each item lists every event of its custody.

Files ({len(rows)}):
{listing}


Signature: ______________________________    Date: ____________________

Printed name and title: ______________________________________________
"""


def export_step(ctx: StepContext, job: Job) -> None:
    """Build an export package (idempotent: a ready export is left as it is). A failure that
    will not change marks the export failed, with the reason."""
    try:
        _build(ctx, job)
    except PermanentFailure as exc:
        export_id = job.kind.partition(":")[2]
        with ctx.uow as uow:
            export = uow.exports.get(export_id)
        if export is not None and export.state is ExportState.BUILDING:
            _fail(ctx, export, str(exc))
        raise


def _build(ctx: StepContext, job: Job) -> None:
    export_id = job.kind.partition(":")[2]
    uow = ctx.uow
    with uow:
        export = uow.exports.get(export_id)
        if export is None:
            raise PermanentFailure(f"export {export_id} no longer exists")
        if export.state is ExportState.READY:
            return
        items = [uow.evidence.get(i) for i in export.evidence_ids]
    chosen: list[tuple[EvidenceItem, str, str, str, int]] = []  # item, path, key, sha, size
    for item in items:
        if item is None or item.original is None:
            raise PermanentFailure("an item of the export no longer has its original")
        served = served_file(item, ShareContent(export.content.value))
        if served is None:
            raise PermanentFailure(f"{item.id} has no {export.content.value} copy any more")
        path = f"data/{item.id}/{served.role}/{safe_name(served.filename)}"
        chosen.append((item, path, served.blob_key, served.sha256, served.size))
    try:
        _verify_payload(ctx.blobs, [(k, s, n) for _, _, k, s, n in chosen], ctx.report)
    except PermanentFailure as exc:
        raise PermanentFailure(f"fixity check failed: {exc}") from None
    if ctx.reports is None:
        raise PermanentFailure("no report renderer is configured")
    chain = (True, "not checked")
    if ctx.check_chain is not None:
        with uow.for_reading() as reader:
            problems, count = ctx.check_chain(reader)
        chain = (
            (True, f"verified: the custody chain of {count:,} events is intact and every event is signed")
            if not problems
            else (False, "the custody chain has problems: " + "; ".join(problems[:5]))
        )
    files = [PackageFile(path, key, sha, size) for _, path, key, sha, size in chosen]
    reports = []
    with uow.for_reading() as reader:
        histories = {item.id: reader.custody.for_object("evidence", item.id) for item, *_ in chosen}
    for item, *_ in chosen:
        report = _report_of(item, histories[item.id], chain, ctx, export.created_by_name)
        reports.append(report)
        for name, data in (
            ("custody-report.pdf", ctx.reports.custody_report_pdf(report)),
            ("custody-report.json", json.dumps(report.to_json(), indent=2, ensure_ascii=False).encode()),
        ):
            key, sha, size = _put(ctx, data)
            files.append(PackageFile(f"data/{item.id}/{name}", key, sha, size))
    ctx.report(0.93)
    when = format_time(ctx.clock.now())
    graph = case_uco_graph(
        reports,
        export_id=export.id,
        exported_at=when,
        exported_by=export.created_by_name,
        agency=ctx.agency,
        tool_version=__version__,
        package_files={f.path: f.sha256 for f in files},
    )
    rows = [(item.id, path, sha, size) for item, path, _, sha, size in chosen]
    for name, data in (
        ("provenance.jsonld", json.dumps(graph, indent=2, ensure_ascii=False).encode()),
        ("certificate-of-authenticity.txt", certificate(export, ctx.agency, rows, when).encode()),
    ):
        key, sha, size = _put(ctx, data)
        files.append(PackageFile(f"data/{name}", key, sha, size))
    files += _tag_files(ctx, export, files, when)
    from opendems.services.share_access import export_layout

    export.files = files
    export.finished_at = ctx.clock.now()
    layout, _ = export_layout(export)
    with uow:
        uow.exports.finish(export.id, files, len(layout), export.finished_at)
        record(
            uow,
            ctx.actor,
            "export:ready",
            "export",
            export.id,
            clock=ctx.clock,
            details={
                "files": len(files),
                "size": len(layout),
                "payload_sha256": {path: sha for _, path, _, sha, _ in chosen},
            },
        )
        uow.commit()
    for f in files:
        ctx.blobs.settle(f.blob_key)
    ctx.report(1.0)


def _tag_files(ctx: StepContext, export: Export, payload: list[PackageFile], when: str) -> list[PackageFile]:
    """bagit.txt, bag-info.txt, manifest-sha256.txt and tagmanifest-sha256.txt (RFC 8493)."""
    octets = sum(f.size for f in payload)
    manifest = "".join(f"{f.sha256}  {f.path}\n" for f in sorted(payload, key=lambda f: f.path))
    info = {
        "Source-Organization": ctx.agency,
        "Bagging-Date": when[:10],
        "Bag-Software-Agent": f"OpenDEMS {__version__}",
        "External-Identifier": export.id,
        "External-Description": export.title,
        "Internal-Sender-Identifier": export.case_number or export.id,
        "Contact-Name": export.created_by_name,
        "Payload-Oxum": f"{octets}.{len(payload)}",
        "Bag-Size": f"{octets / 1e6:.1f} MB",
    }
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": "".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in info.items()),
        "manifest-sha256.txt": manifest,
    }
    out = []
    for name, text in tags.items():
        key, sha, size = _put(ctx, text.encode())
        out.append(PackageFile(name, key, sha, size))
    tagmanifest = "".join(f"{f.sha256}  {f.path}\n" for f in out)
    key, sha, size = _put(ctx, tagmanifest.encode())
    out.append(PackageFile("tagmanifest-sha256.txt", key, sha, size))
    return out


def _fail(ctx: StepContext, export: Export, error: str) -> None:
    with ctx.uow as uow:
        uow.exports.fail(export.id, error, ctx.clock.now())
        record(
            uow,
            ctx.actor,
            "export:failed",
            "export",
            export.id,
            clock=ctx.clock,
            outcome="failed",
            details={"error": error},
        )
        uow.commit()


STEPS = {EXPORT_JOB: export_step}


@dataclass(frozen=True)
class PackageGrant:
    export: Export
    start: int
    end: int
    partial: bool
    crcs: dict[str, int]


def grant_package(
    actor: Actor, export_id: str, range_header: str | None, *, uow: UnitOfWork, clock: Clock
) -> PackageGrant:
    """Authorise downloading a ready package (as a ZIP) and record it before any byte goes."""
    from opendems.services.evidence import parse_range
    from opendems.services.share_access import export_layout

    with uow:
        export = load_export(actor, export_id, action="export:download", uow=uow, clock=clock)
        if export.state is ExportState.FAILED:
            raise Conflict(f"export {export.id} failed: {export.error}")
        if export.state is not ExportState.READY:
            raise Conflict(f"export {export.id} is still being built; follow its job for progress")
        layout, _ = export_layout(export)
        bounds = parse_range(range_header, len(layout))
        start, end = bounds if bounds else (0, len(layout) - 1)
        record(
            uow,
            actor,
            "export:download",
            "export",
            export.id,
            clock=clock,
            details={"size": len(layout), "range": [start, end] if bounds else None},
        )
        uow.commit()
        crcs = uow.shares.crc32s([f.sha256 for f in export.files])
        return PackageGrant(export, start, end, bounds is not None, crcs)


def record_package_transfer(
    actor: Actor,
    export_id: str,
    *,
    bytes_sent: int,
    seconds: float,
    complete: bool,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    record_transfer(
        uow,
        actor,
        "export",
        export_id,
        bytes_sent=bytes_sent,
        seconds=seconds,
        complete=complete,
        clock=clock,
    )

"""The ``opendems`` command line."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opendems import __version__
from opendems.cli.accounts import audit_app, role_app, token_app, user_app
from opendems.cli.categories import category_app
from opendems.cli.exports import export_app
from opendems.cli.ingest import index_meaning, ingest_paths, printable, summary_table
from opendems.cli.jobs import jobs as jobs_command
from opendems.cli.jobs import retry as retry_job_command
from opendems.cli.jobs import worker as worker_command
from opendems.cli.logs import configure_logs
from opendems.cli.runtime import clear_errors, console, err, fail, is_tty, state
from opendems.cli.search import search as search_command
from opendems.domain.errors import Invalid
from opendems.domain.sizes import short_size
from opendems.services import cases as case_svc
from opendems.services import evidence as evidence_svc
from opendems.services import members as member_svc
from opendems.services.ingest import IngestRequest, check_request
from opendems.services.verify import verify as run_verify
from opendems.web.schemas import CaseOut, CustodyEventOut, EvidenceOut

app = typer.Typer(
    name="opendems",
    help="OpenDEMS: digital evidence with a provable chain of custody.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
case_app = typer.Typer(help="Manage cases.", no_args_is_help=True)
app.command("worker")(worker_command)
app.command("jobs")(jobs_command)
app.command("retry-job")(retry_job_command)
app.command("search")(search_command)
app.add_typer(user_app, name="user")
app.add_typer(role_app, name="role")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(category_app, name="category")
app.add_typer(case_app, name="case")
app.add_typer(export_app, name="export")


def _version(value: bool) -> None:
    if value:
        console.print(f"opendems {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", envvar="OPENDEMS_DATA_DIR", help="Data directory (default ./opendems-data)."
        ),
    ] = None,
    acting_as: Annotated[
        str, typer.Option("--as", help="Account the action is recorded under (default: built-in 'cli').")
    ] = "cli",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    state.data_dir = data_dir
    state.acting_as = acting_as


@app.command()
@clear_errors
def init() -> None:
    """Create the data directory, keys and database (safe to repeat)."""
    c = state.container()
    console.print(f"Data directory: {c.settings.data_dir.resolve()}")
    console.print(f"Database: {c.engine.url.render_as_string(hide_password=True)}")
    console.print("Ready.")


@app.command()
@clear_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the web application and API."""
    import uvicorn

    from opendems.web.app import create_app

    c = state.container()
    s = c.settings
    bind_host = host or s.host
    bind_port = port or s.port
    if (s.tls_cert_file is None) != (s.tls_key_file is None):
        raise fail("TLS needs both OPENDEMS_TLS_CERT_FILE and OPENDEMS_TLS_KEY_FILE")
    for path in (s.tls_cert_file, s.tls_key_file):
        if path is not None and not path.is_file():
            raise fail(f"TLS: {path} is not a readable file")
    scheme = "https" if s.tls_cert_file else "http"
    configure_logs()  # uvicorn's loggers and ours, before the preload thread logs what it caught up
    c.preload(catch_up=True)
    err.print(
        f"OpenDEMS {__version__} on {scheme}://{bind_host}:{bind_port}  (sign in: /sign-in, API docs: /docs)"
    )
    uvicorn.run(
        create_app(c),
        host=bind_host,
        port=bind_port,
        log_level="info",
        log_config=None,  # configured above: applied again, it would drop a line logged meanwhile
        access_log=False,
        ssl_certfile=s.tls_cert_file,
        ssl_keyfile=s.tls_key_file,
        proxy_headers=bool(s.trusted_proxies),
        forwarded_allow_ips=s.trusted_proxies or None,
        timeout_graceful_shutdown=5,
    )


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"{name} {value!r} is not an ISO 8601 date and time (e.g. 2026-03-01T14:05:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise Invalid(f"{name} {value!r} needs a time zone (e.g. 2026-03-01T14:05:00-05:00)")
    return moment


@app.command()
@clear_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    case: Annotated[str | None, typer.Option("--case", help="Case number to add the evidence to.")] = None,
    officer: Annotated[str | None, typer.Option("--officer", help="Who captured it.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Serial of the capturing device.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Evidence category.")] = None,
    captured_at: Annotated[
        str | None, typer.Option("--captured-at", help="ISO 8601 time of capture.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    allow_mismatch: Annotated[
        bool, typer.Option("--allow-mismatch", help="Keep files whose content contradicts their extension.")
    ] = False,
) -> None:
    """Ingest files and folders; exits non-zero when any file failed."""
    template = IngestRequest(
        filename="placeholder",
        case_number=case,
        captured_by=officer,
        device_serial=device,
        category=category,
        captured_at=_parse_time(captured_at, "--captured-at"),
        tags=tag or [],
        allow_mismatch=allow_mismatch,
        via="cli",
    )
    c = state.container()
    check_request(IngestRequest(**template.__dict__), c.limits)  # refuse bad options before any file
    who = state.actor("ingest")
    if case:
        case_svc.get_case(who, case, uow=c.uow(), clock=c.clock)
    started = time.perf_counter()
    outcomes, interrupted = ingest_paths(c, who, paths, template, show_progress=is_tty())
    elapsed = max(time.perf_counter() - started, 1e-9)
    unindexed = index_meaning(c, who, outcomes, show_progress=is_tty())
    console.print(summary_table(outcomes))
    if unindexed:
        err.print(f"warning: {unindexed}")
    counts = {
        k: sum(1 for o in outcomes if o.status == k) for k in ("stored", "duplicate", "failed", "skipped")
    }
    done = sum(o.size for o in outcomes if o.status in ("stored", "duplicate"))
    # A rate says something only for a real amount: under a MiB, start-up and the commit's
    # fsyncs are all it would measure.
    mib = done / (1024 * 1024)
    rate = f" ({mib / elapsed:.1f} MiB/s)" if mib >= 1 else ""
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    console.print(
        f"{counts['stored']} stored, {counts['duplicate']} already held, {counts['failed']} failed"
        f"{skipped}; {short_size(done)} in {elapsed:.2f} s{rate}"
    )
    if interrupted:
        raise fail("interrupted: the files listed as stored are kept; the others were not", 130)
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
@clear_errors
def show(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id, e.g. EV-2026-000123.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one item with its metadata, original hash and derivatives (recorded as a view)."""
    c = state.container()
    item = evidence_svc.get_evidence(state.actor("show"), evidence_id, uow=c.uow(), clock=c.clock)
    out = EvidenceOut.of(item)
    if as_json:
        sys.stdout.write(json.dumps(out.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(show_header=False, title=f"{item.id}  {printable(item.title)}")
    for key, value in out.model_dump(mode="json", exclude={"original", "derivatives"}).items():
        if value not in (None, [], {}, ""):
            table.add_row(key, printable(str(value)))
    if item.original:
        o = item.original
        table.add_row("original", printable(f"{o.filename}  {o.size} bytes  {o.mime_type}"))
        table.add_row("sha256", o.sha256)
    for d in item.derivatives:
        table.add_row(f"derivative {d.kind}", f"{d.sha256}  {d.size} bytes")
    console.print(table)


@app.command()
@clear_errors
def custody(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show an item's chain-of-custody history."""
    c = state.container()
    events = evidence_svc.custody_history(state.actor("custody"), evidence_id, uow=c.uow(), clock=c.clock)
    rows = [CustodyEventOut.of(e).model_dump(mode="json") for e in events]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"Custody of {evidence_id.upper()}")
    for col in ("seq", "time (UTC)", "action", "by", "from", "outcome", "reason / details"):
        table.add_column(col, overflow="fold")
    for r in rows:
        detail = r["reason"] or ""
        extra = {k: v for k, v in r["details"].items() if k != "os_user"}
        if extra:
            detail = (detail + " " if detail else "") + json.dumps(extra, ensure_ascii=False)
        table.add_row(
            str(r["seq"]),
            r["at"],
            r["action"],
            printable(r["actor_name"]),
            f"{r['service']} {r['client_address'] or ''}",
            r["outcome"],
            printable(detail),
        )
    console.print(table)


@app.command()
@clear_errors
def verify(
    evidence_ids: Annotated[list[str] | None, typer.Argument(help="Evidence ids to verify.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Verify every held original.")] = False,
) -> None:
    """Re-hash originals and recompute the custody chain; exit non-zero on any mismatch."""
    if not evidence_ids and not all_items:
        raise fail("name evidence ids to verify, or give --all")
    if evidence_ids and all_items:
        raise fail("give either evidence ids or --all, not both")
    c = state.container()
    report = run_verify(
        state.actor("verify"),
        None if all_items else list(evidence_ids or []),
        uow=c.uow(),
        blobs=c.blobs,
        anchor=c.anchor,
        signer=c.signer,
        clock=c.clock,
    )
    for check in report.items:
        mark = "[green]OK[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.evidence_id}  {check.sha256[:16]}  {check.problem or ''}")
    if report.chain_problems:
        for problem in report.chain_problems:
            console.print(f"[red]FAIL[/red] custody chain: {problem}")
    else:
        console.print(f"[green]OK[/green]   custody chain: {report.events_checked} events intact")
    if not report.ok:
        err.print(f"[red]verification failed:[/red] {len(report.problems)} problem(s)")
        raise typer.Exit(1)
    console.print(f"Verified {len(report.items)} item(s) and {report.events_checked} custody events.")


@case_app.command("create")
@clear_errors
def case_create(
    number: Annotated[str, typer.Argument(help="Case number.")],
    title: Annotated[str, typer.Option("--title")],
    incident: Annotated[str | None, typer.Option("--incident", help="CAD/RMS incident number.")] = None,
    case_type: Annotated[str | None, typer.Option("--type")] = None,
) -> None:
    """Open a case."""
    c = state.container()
    case = case_svc.create_case(
        state.actor("case create"),
        number,
        {"title": title, "incident_number": incident, "case_type": case_type},
        uow=c.uow(),
        clock=c.clock,
    )
    console.print(f"Opened case {case.number}: {printable(case.title)}")


@case_app.command("show")
@clear_errors
def case_show(
    number: Annotated[str, typer.Argument(help="Case number.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a case and its evidence."""
    c = state.container()
    who = state.actor("case show")
    case = case_svc.get_case(who, number, uow=c.uow(), clock=c.clock)
    items = case_svc.case_evidence(who, number, uow=c.uow(), clock=c.clock)
    if as_json:
        body = {**CaseOut.of(case).model_dump(mode="json"), "evidence": [i.id for i in items]}
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return
    console.print(f"Case {case.number} [{case.status.value}]: {printable(case.title)}")
    for item in items:
        console.print(f"  {item.id}  {item.kind.value:<8} {printable(item.title)}")


@case_app.command("member")
@clear_errors
def case_member(
    number: Annotated[str, typer.Argument(help="Case number.")],
    user: Annotated[str, typer.Argument(help="User name.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take the user off the case.")] = False,
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Name a user on a case (they see it and its evidence), or take them off."""
    c = state.container()
    names = member_svc.change_member(
        state.actor("case member"),
        "case",
        number,
        user,
        add=not remove,
        reason=reason,
        uow=c.uow(),
        clock=c.clock,
    )
    console.print(f"Members of {number}: {', '.join(names) or '(none)'}")


@case_app.command("restrict")
@clear_errors
def case_restrict(
    number: Annotated[str, typer.Argument(help="Case number.")],
    level: Annotated[str, typer.Argument(help="normal, restricted or sealed.")],
    reason: Annotated[str, typer.Option("--reason")],
) -> None:
    """Restrict a case to its named members, or seal it (internal affairs and named members)."""
    c = state.container()
    case = member_svc.set_case_restriction(
        state.actor("case restrict"), number, level, reason=reason, uow=c.uow(), clock=c.clock
    )
    console.print(f"Case {case.number} is now {case.restriction.value}.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``opendems search QUERY``: the query language of the API and the search page, in a terminal;
``opendems search --reindex`` rebuilds the search index from the database."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from opendems.cli.ingest import printable
from opendems.cli.runtime import clear_errors, console, err, fail, state
from opendems.domain.search import FACET_FIELDS
from opendems.services import search as search_svc
from opendems.services import search_view as view

MAX_LIMIT = 200


def _snippet(snippet: str) -> Text:
    """The snippet with its matches in bold (control characters made visible, never obeyed)."""
    out = Text()
    for piece, match in view.pieces(snippet):
        out.append(printable(piece), style="bold" if match else None)
    return out


def _where(row: view.SearchRow) -> str:
    at = row.hit.at_seconds
    how = ", by meaning" if row.hit.by_meaning else ""
    if at is None:
        return row.hit.source + how
    whole = int(at)
    return f"{row.hit.source} {whole // 60}:{whole % 60:02d}{how}"


def _as_json(found: view.SearchPage, limit: int) -> dict[str, Any]:
    hits = []
    for row in found.rows:
        text, ranges = view.highlight_ranges(row.hit.snippet)
        hits.append(
            {
                "evidence_id": row.hit.evidence_id,
                "score": row.hit.score,
                "snippet": text,
                "highlights": [list(r) for r in ranges],
                "source": row.hit.source,
                "at_seconds": row.hit.at_seconds,
                "by_meaning": row.hit.by_meaning,
                "item": {
                    "title": row.item.title,
                    "kind": row.item.kind.value,
                    "captured_at": row.item.captured_at.isoformat() if row.item.captured_at else None,
                    "state": row.item.state.value,
                    "restriction": row.item.restriction.value,
                },
            }
        )
    return {
        "hits": hits,
        "total": found.total,
        "total_exact": found.total_exact,
        "limit": limit,
        "offset": 0,
        "facets": {
            name: [{"value": f.value, "count": f.count} for f in counts]
            for name, counts in found.facets.items()
        },
    }


@clear_errors
def search(
    query: Annotated[
        str | None,
        typer.Argument(
            help='The query: words, "phrases", prefix*, AND/OR/NOT, -word, and filters such as '
            "kind:video officer:NAME tag:night captured:2026-01-01..2026-01-31 near:LAT,LON,2km "
            "sort:newest match:words (words only; by default the words also find by meaning). "
            "Empty lists everything by date."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help=f"How many hits (1 to {MAX_LIMIT}).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")] = False,
    facets: Annotated[bool, typer.Option("--facets", help="Also count the hits per filter value.")] = False,
    reindex: Annotated[
        bool, typer.Option("--reindex", help="Rebuild the search index from the database first.")
    ] = False,
) -> None:
    """Search the evidence: ranked hits with highlighted snippets, and facet counts."""
    if not 1 <= limit <= MAX_LIMIT:
        raise fail(f"--limit must be between 1 and {MAX_LIMIT}")
    c = state.container()
    if reindex:
        count = search_svc.reindex(state.actor("search --reindex"), uow=c.uow(), clock=c.clock)
        message = f"Search index rebuilt: {count} item{'' if count == 1 else 's'}."
        if query is None:
            console.print(message)
            return
        err.print(message, highlight=False)
    found = view.search_page(
        state.actor("search"),
        query or "",
        limit=limit,
        offset=0,
        facets=facets,
        uow=c.uow(),
        clock=c.clock,
    )
    if as_json:
        sys.stdout.write(json.dumps(_as_json(found, limit), indent=2, ensure_ascii=False) + "\n")
        return
    if not found.rows:
        console.print("Nothing found." if not found.total else f"{found.total} found; none on this page.")
    else:
        table = Table("id", "title", "kind", "captured", "score", "match")
        for row in found.rows:
            item = row.item
            table.add_row(
                item.id,
                Text(printable(item.title)),
                item.kind.value,
                f"{item.captured_at:%Y-%m-%d %H:%M}" if item.captured_at else "",
                f"{row.hit.score:.3g}",
                Text.assemble(_snippet(row.hit.snippet), Text(f"  ({_where(row)})", style="dim")),
            )
        console.print(table)
        shown = len(found.rows)
        more = f", showing the first {shown} (--limit)" if found.total > shown else ""
        counted = f"{found.total} item{'' if found.total == 1 else 's'}"
        if not found.total_exact:
            counted = f"At least {counted} (a broad match: the newest were examined; narrow it to count all)"
        console.print(f"{counted} found{more}.")
    if facets:
        for name in FACET_FIELDS:
            counts = found.facets.get(name) or []
            if counts:
                line = Text(f"{name}: ", style="bold")
                line.append(", ".join(f"{printable(f.value)} ({f.count})" for f in counts))
                console.print(line)

"""``opendems search``, run as an operator would run it: files ingested with the command line
are found by words, prefixes and filters (and have their meaning vectors); ``--json`` answers as the API does; a query that
cannot be read is one clear line and a non-zero exit; ``--reindex`` rebuilds a lost index."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.backends import RawDatabase, container_of
from tests.e2e.server import cli
from tests.factories import pdf_bytes, png_bytes


def ids_in(output: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"EV-\d{4}-\d{6}", output)))


def test_search_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "bakery-burglary.png").write_bytes(png_bytes(seed=1))
    (tmp_path / "elm-street-stop.png").write_bytes(png_bytes(seed=2))
    (tmp_path / "witness.pdf").write_bytes(pdf_bytes("Witness statement"))
    burglary = ids_in(
        cli(
            data,
            "ingest",
            str(tmp_path / "bakery-burglary.png"),
            "--tag",
            "night",
            "--category",
            "burglary",
            "--officer",
            "olga",
            "--captured-at",
            "2026-01-05T03:00:00Z",
        ).stdout
    )
    stop = ids_in(
        cli(
            data, "ingest", str(tmp_path / "elm-street-stop.png"), "--tag", "night", "--category", "traffic"
        ).stdout
    )
    statement = ids_in(cli(data, "ingest", str(tmp_path / "witness.pdf")).stdout)
    assert len(burglary) == len(stop) == len(statement) == 1
    # Meaning search is on (the default): each command embedded its items after its last file.
    raw = RawDatabase(container_of(data))
    embedded = raw.execute("SELECT DISTINCT evidence_id FROM search_vectors").fetchall()
    raw.close()
    assert sorted(r[0] for r in embedded) == sorted([*burglary, *stop, *statement])

    found = cli(data, "search", "bakery")
    assert ids_in(found.stdout) == burglary
    assert "1 item found." in found.stdout
    assert set(ids_in(cli(data, "search", "burg* OR elm").stdout)) == {*burglary, *stop}
    assert ids_in(cli(data, "search", "tag:night -bakery").stdout) == stop
    assert ids_in(cli(data, "search", "captured:2026-01-01..2026-01-31").stdout) == burglary
    nothing = cli(data, "search", "spaceship")
    assert "Nothing found." in nothing.stdout and not ids_in(nothing.stdout)

    faceted = cli(data, "search", "tag:night", "--facets")
    assert "category: burglary (1), traffic (1)" in faceted.stdout
    assert "tag: night (2)" in faceted.stdout

    refused = cli(data, "search", "kind:document OR witness", "--json", check=False)
    assert refused.returncode == 1 and refused.stdout == "" and "cannot be combined with OR" in refused.stderr
    body = json.loads(cli(data, "search", "witness", "--json", "--facets").stdout)
    assert body["total"] == 1 and [h["evidence_id"] for h in body["hits"]] == statement
    hit = body["hits"][0]
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["witness"]
    assert hit["item"]["kind"] == "document" and hit["source"] == "metadata"
    assert {f["value"]: f["count"] for f in body["facets"]["kind"]} == {"document": 1}
    limited = json.loads(cli(data, "search", "", "--json", "--limit", "2").stdout)
    assert limited["total"] == 3 and len(limited["hits"]) == 2

    bad = cli(data, "search", "color:red", check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown search field 'color:'"), bad.stderr
    late = cli(data, "search", "captured:2026-02-01..2026-01-01", check=False)
    assert late.returncode == 1 and "starts after it ends" in late.stderr
    assert cli(data, "search", "x", "--limit", "0", check=False).returncode != 0

    # The index is lost (say, restored from an old copy): --reindex rebuilds it from the database.
    raw = RawDatabase(container_of(data))
    tables = ["search_fts", "search_rows"] if raw.dialect == "sqlite" else ["search_docs"]
    for table in tables:
        raw.execute(f"DELETE FROM {table}")
    raw.close()
    assert not ids_in(cli(data, "search", "bakery").stdout)
    rebuilt = cli(data, "search", "--reindex")
    assert rebuilt.stdout.strip() == "Search index rebuilt: 3 items."
    assert ids_in(cli(data, "search", "bakery").stdout) == burglary
    both = cli(data, "search", "--reindex", "elm")
    assert "Search index rebuilt: 3 items." in both.stderr and ids_in(both.stdout) == stop
    export = tmp_path / "audit.csv"
    cli(data, "audit", "search", "--action", "search:reindex", "--csv", str(export))
    assert [line.split(",")[2] for line in export.read_text().splitlines()[1:]] == ["search:reindex"] * 2

"""``opendems category list|add|set``, and ingest keeping to the agency's categories, run as an
operator would run them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.server import cli
from tests.factories import png_bytes


def test_categories_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert "No categories" in cli(data, "category", "list").stdout
    photo = tmp_path / "a.png"
    photo.write_bytes(png_bytes(seed=1))
    assert "1 stored" in cli(data, "ingest", str(photo), "--category", "anything at all").stdout

    added = cli(data, "category", "add", "Traffic stop", "--description", "Stops", "--retention-days", "365")
    assert "Added category Traffic stop (active, 365 days)." in added.stdout
    cli(data, "category", "add", "Arrest")
    twice = cli(data, "category", "add", "traffic STOP", check=False)
    assert twice.returncode != 0 and "already exists" in twice.stderr

    other = tmp_path / "b.png"
    other.write_bytes(png_bytes(seed=2))
    refused = cli(data, "ingest", str(other), "--category", "Burglary", check=False)
    assert refused.returncode == 1
    assert "unknown or inactive category 'Burglary'; categories: Arrest, Traffic stop" in refused.stdout
    assert "1 stored" in cli(data, "ingest", str(other), "--category", "arrest").stdout

    changed = cli(data, "category", "set", "traffic stop", "--retention-days", "730", "--reason", "policy")
    assert "Category Traffic stop (active, 730 days)." in changed.stdout
    off = cli(data, "category", "set", "Arrest", "--deactivate", "--reason", "merged")
    assert "Category Arrest (inactive, no retention period)." in off.stdout
    assert "Arrest" not in cli(data, "category", "list").stdout
    listed = json.loads(cli(data, "category", "list", "--all", "--json").stdout)
    assert [(x["name"], x["active"], x["retention_days"]) for x in listed] == [
        ("Arrest", False, None),
        ("Traffic stop", True, 730),
    ]
    nothing = cli(data, "category", "set", "Arrest", check=False)
    assert nothing.returncode != 0 and "nothing to change" in nothing.stderr

    export = tmp_path / "audit.csv"
    cli(data, "audit", "search", "--action", "category:*", "--csv", str(export))
    actions = [line.split(",")[2] for line in export.read_text().splitlines()[1:]]
    assert actions == ["category:create", "category:create", "category:change", "category:deactivate"]

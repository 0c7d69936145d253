"""``opendems category list|add|set``: the agency's evidence categories."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from opendems.cli.ingest import printable
from opendems.cli.runtime import clear_errors, console, state
from opendems.domain.categories import Category
from opendems.domain.errors import Invalid
from opendems.services import categories as svc

category_app = typer.Typer(
    help="Evidence categories (once any is active, evidence must be filed under one).", no_args_is_help=True
)


def _line(c: Category) -> str:
    keep = f"{c.retention_days} days" if c.retention_days else "no retention period"
    return f"{c.name} ({'active' if c.active else 'inactive'}, {keep})"


@category_app.command("list")
@clear_errors
def category_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include inactive categories.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The categories evidence may be filed under."""
    c = state.container()
    found = svc.list_categories(
        state.actor("category list"), include_inactive=show_all, uow=c.uow(), clock=c.clock
    )
    if as_json:
        rows = [
            {
                "id": x.id,
                "name": x.name,
                "description": x.description,
                "retention_days": x.retention_days,
                "active": x.active,
                "updated_at": x.updated_at.isoformat(),
                "updated_by": x.updated_by,
            }
            for x in found
        ]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    if not found:
        console.print("No categories: evidence may carry any category text.")
        return
    table = Table("name", "status", "retention (days)", "description", "changed")
    for x in found:
        table.add_row(
            printable(x.name),
            "active" if x.active else "inactive",
            str(x.retention_days or ""),
            escape(printable(x.description)),
            f"{x.updated_at:%Y-%m-%d} {x.updated_by}",
        )
    console.print(table)


@category_app.command("add")
@clear_errors
def category_add(
    name: Annotated[str, typer.Argument(help="Category name, e.g. 'Traffic stop'.")],
    description: Annotated[str, typer.Option("--description")] = "",
    retention_days: Annotated[
        int | None, typer.Option("--retention-days", min=1, help="Days evidence in it is kept.")
    ] = None,
) -> None:
    """Add a category."""
    c = state.container()
    made = svc.create_category(
        state.actor("category add"),
        name,
        description=description,
        retention_days=retention_days,
        uow=c.uow(),
        clock=c.clock,
    )
    console.print(f"Added category {printable(_line(made))}.")


@category_app.command("set")
@clear_errors
def category_set(
    name: Annotated[str, typer.Argument(help="The category's current name.")],
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    retention_days: Annotated[int | None, typer.Option("--retention-days", min=1)] = None,
    no_retention: Annotated[bool, typer.Option("--no-retention", help="Clear the retention period.")] = False,
    deactivate: Annotated[
        bool, typer.Option("--deactivate", help="No new evidence may be filed under it.")
    ] = False,
    activate: Annotated[bool, typer.Option("--activate")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")] = "",
) -> None:
    """Rename, describe, set the retention period, or deactivate/reactivate a category."""
    if deactivate and activate:
        raise Invalid("choose --deactivate or --activate, not both")
    if no_retention and retention_days is not None:
        raise Invalid("choose --retention-days or --no-retention, not both")
    changes: dict[str, Any] = {}
    if new_name is not None:
        changes["name"] = new_name
    if description is not None:
        changes["description"] = description
    if retention_days is not None or no_retention:
        changes["retention_days"] = retention_days
    if deactivate or activate:
        changes["active"] = activate
    if not changes:
        raise Invalid(
            "nothing to change: give --name, --description, --retention-days, --deactivate or --activate"
        )
    c = state.container()
    saved = svc.update_category(
        state.actor("category set"), name, changes, reason=reason, uow=c.uow(), clock=c.clock
    )
    console.print(f"Category {printable(_line(saved))}.")

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.factories import MADE, admin, make_container, user_actor
from tests.stack.postgres import start_postgres
from tests.stack.settings import CREATED, drop_databases, stack


@pytest.fixture(autouse=True)
def _close_what_the_test_opened() -> Iterator[None]:
    """Close the database connections of the containers a test made; in scale-out mode,
    drop the databases made for its data directories (a shared server has a connection
    limit, and thousands of tests must not hold theirs)."""
    made, created = len(MADE), len(CREATED)
    yield
    for c in MADE[made:]:
        if "engine" in c.__dict__:
            c.engine.dispose()
    del MADE[made:]
    drop_databases(CREATED[created:])
    del CREATED[created:]


@pytest.fixture
def container(tmp_path: Path) -> Container:
    return make_container(tmp_path)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as c:
        yield c


@pytest.fixture
def token_for(container: Container):  # type: ignore[no-untyped-def]
    """token_for(name, role) -> an 'Authorization' header dict for a new user with that role."""

    def make(name: str, role: str) -> dict[str, str]:
        user_actor(container, name, role)
        issued = create_token(admin(container), name, "test", uow=container.uow(), clock=container.clock)
        return {"Authorization": f"Bearer {issued.token}"}

    return make


@pytest.fixture
def auth(token_for) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Headers for an investigator (may create, view, download, edit and manage cases)."""
    return token_for("ivy", "investigator")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server's administrative URL (its ``postgres`` database): the scale-out
    harness's, else a private server started for this test session (never one that merely
    happens to run on the machine)."""
    services = stack()
    if services is not None:
        yield str(services["postgres"]["admin_url"])
        return
    with (
        tempfile.TemporaryDirectory(prefix="opendems-postgres-") as tmp,
        start_postgres(Path(tmp) / "pg") as pg,
    ):
        yield pg.admin_url

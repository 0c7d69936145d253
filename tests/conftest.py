from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.factories import admin, make_container, user_actor


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

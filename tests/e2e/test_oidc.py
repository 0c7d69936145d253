"""Single sign-on against a real OpenID Connect provider process (oidc-provider-mock):
authorization code with PKCE, ID-token checks, group-to-role mapping, refusal of users in no
mapped group, replayed states, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.custody import CustodyEvent
from opendems.web.app import create_app
from tests.factories import make_container
from tests.oidc_provider import OidcProvider, authorize

GROUPS = "dems-ia=internal_affairs,dems-supervisors=supervisor,dems-officers=officer"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with OidcProvider(Path(tmp_path_factory.mktemp("idp"))) as provider:
        yield provider


@pytest.fixture
def container(tmp_path: Path, idp: OidcProvider) -> Container:
    return make_container(
        tmp_path,
        oidc_issuer=idp.issuer,
        oidc_client_id="opendems",
        oidc_client_secret="s3cret-for-tests",
        oidc_public_url="https://testserver",
        oidc_group_roles=GROUPS,
        oidc_unit_claim="unit",
    )


@pytest.fixture
def web(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def events(c: Container, action: str) -> list[CustodyEvent]:
    with c.uow() as uow:
        return [e for e in uow.custody.iter_all() if e.action == action]


def sso(web: TestClient, idp: OidcProvider, sub: str, claims: dict[str, object]) -> object:
    start = web.get("/sign-in/oidc")
    assert start.status_code == 303, start.text
    url = start.headers["location"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0] and query["client_id"] == ["opendems"]
    back = authorize(idp, url, sub, claims)
    assert back.startswith("https://testserver/sign-in/oidc/callback?")
    return web.get(back.removeprefix("https://testserver"))


def test_sign_in_page_offers_single_sign_on(web: TestClient) -> None:
    assert 'id="sso"' in web.get("/sign-in").text


def test_groups_map_to_roles_and_follow_the_provider(
    web: TestClient, idp: OidcProvider, container: Container
) -> None:
    r = sso(
        web,
        idp,
        "u-1001",
        {
            "groups": ["staff", "dems-supervisors"],
            "email": "sam.reyes@pd.example",
            "name": "Sam Reyes",
            "unit": "North",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/", r.text  # type: ignore[attr-defined]
    me = web.get("/api/v1/me").json()
    assert (me["name"], me["role"], me["unit"], me["via"]) == ("sam.reyes", "supervisor", "North", "session")
    signed = events(container, "auth:sign_in")[-1]
    assert signed.details_dict["method"] == "oidc" and signed.details_dict["issuer"] == idp.issuer
    assert signed.details_dict["groups"] == ["staff", "dems-supervisors"]
    assert events(container, "user:create")[-1].details_dict["method"] == "oidc"

    # Moved to internal affairs at the provider: the role follows at the next sign-in.
    web.cookies.clear()
    r = sso(web, idp, "u-1001", {"groups": ["dems-ia"], "email": "sam.reyes@pd.example", "unit": "North"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert web.get("/api/v1/me").json()["role"] == "internal_affairs"
    change = events(container, "user:role_change")[-1]
    assert change.details_dict["changes"]["role"] == {"old": "supervisor", "new": "internal_affairs"}
    with container.uow() as uow:
        users = [u for u in uow.accounts.list_users() if u.auth_source == "oidc"]
    assert len(users) == 1 and users[0].password_hash is None  # one account, no local password


def test_user_in_no_mapped_group_is_refused(web: TestClient, idp: OidcProvider, container: Container) -> None:
    r = sso(web, idp, "u-2002", {"groups": ["cafeteria"], "email": "pat@pd.example"})
    assert r.status_code == 401 and "not in any group" in r.text  # type: ignore[attr-defined]
    assert web.get("/api/v1/me").status_code == 401
    refused = events(container, "auth:sign_in")[-1]
    assert refused.outcome == "denied" and refused.reason == "no group of this user maps to a role"


def test_a_state_is_used_once_and_a_denial_is_shown(web: TestClient, idp: OidcProvider) -> None:
    start = web.get("/sign-in/oidc").headers["location"]
    state = parse_qs(urlsplit(start).query)["state"][0]
    back = authorize(idp, start, "u-3003", {"groups": ["dems-officers"]}).removeprefix("https://testserver")
    assert web.get(back).status_code == 303
    web.cookies.clear()
    web.cookies.set("opendems_oidc_state", state, domain="testserver.local")
    again = web.get(back)  # the same code and state, replayed, even from the same browser
    assert again.status_code == 401 and "expired or was already used" in again.text
    denied = authorize(idp, web.get("/sign-in/oidc").headers["location"], "u-3003", deny=True)
    r = web.get(denied.removeprefix("https://testserver"))
    assert r.status_code == 401 and "did not sign you in" in r.text


def test_forged_state_is_refused(web: TestClient) -> None:
    r = web.get("/sign-in/oidc/callback", params={"code": "abc", "state": "made-up"})
    assert r.status_code == 401 and "not started in this browser" in r.text


def test_a_callback_link_from_someone_else_does_not_sign_the_browser_in(
    web: TestClient, idp: OidcProvider, container: Container
) -> None:
    """Login CSRF: an attacker starts a sign-in, signs in as themselves at the provider and
    sends the victim the callback link. The victim's browser never started that sign-in."""
    with TestClient(create_app(container), base_url="https://testserver", follow_redirects=False) as attacker:
        start = attacker.get("/sign-in/oidc").headers["location"]
        link = authorize(idp, start, "u-6666", {"groups": ["dems-officers"]}).removeprefix(
            "https://testserver"
        )
    r = web.get(link)
    assert r.status_code == 401 and "not started in this browser" in r.text
    assert web.get("/api/v1/me").status_code == 401


def test_without_configuration_there_is_no_single_sign_on(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    with TestClient(create_app(c), base_url="https://testserver") as web:
        assert 'id="sso"' not in web.get("/sign-in").text
        assert web.get("/sign-in/oidc", follow_redirects=False).status_code == 404

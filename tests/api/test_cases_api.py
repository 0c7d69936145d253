"""The cases API through the real app: lifecycle, membership and the custody it leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.custody import CustodyEvent
from tests.factories import pdf_bytes, png_bytes

CASES = "/api/v1/cases"
EVIDENCE = "/api/v1/evidence"
PROBLEM = "application/problem+json"
TokenFor = Callable[[str, str], dict[str, str]]


def events(container: Container) -> list[CustodyEvent]:
    with container.uow() as uow:
        return list(uow.custody.iter_all())


def facts(e: CustodyEvent) -> dict[str, Any]:
    """An event's details without the token every API request is recorded with."""
    return {k: v for k, v in e.details_dict.items() if k not in {"token", "token_id"}}


def actions(container: Container, action: str) -> list[CustodyEvent]:
    return [e for e in events(container) if e.action == action]


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def create_case(client: TestClient, headers: dict[str, str], number: str, **fields: Any) -> dict[str, Any]:
    r = client.post(CASES, headers=headers, json={"number": number, "title": f"Case {number}", **fields})
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


def ingest(client: TestClient, headers: dict[str, str], body: bytes, **params: str) -> dict[str, Any]:
    params.setdefault("filename", "exhibit.dat")
    r = client.post(EVIDENCE, params=params, content=body, headers=headers)
    assert r.status_code == 201, r.text
    item: dict[str, Any] = r.json()["item"]
    return item


def get_item(client: TestClient, headers: dict[str, str], evidence_id: str) -> dict[str, Any]:
    r = client.get(f"{EVIDENCE}/{evidence_id}", headers=headers)
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()
    return item


def get_case(client: TestClient, headers: dict[str, str], number: str) -> dict[str, Any]:
    r = client.get(f"{CASES}/{number}", headers=headers)
    assert r.status_code == 200, r.text
    case: dict[str, Any] = r.json()
    return case


# -- lifecycle -------------------------------------------------------------------------------


def test_create_and_get(client: TestClient, auth: dict[str, str], container: Container) -> None:
    r = client.post(
        CASES,
        headers=auth,
        json={
            "number": "2026-0042",
            "title": "  Burglary at 5 Elm St  ",
            "incident_number": "INC-77",
            "case_type": "burglary",
            "description": "Rear door forced",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["number"] == "2026-0042"
    assert case["title"] == "Burglary at 5 Elm St"
    assert case["status"] == "open"
    assert case["incident_number"] == "INC-77"
    assert case["case_type"] == "burglary"
    assert case["description"] == "Rear door forced"
    assert case["closed_at"] is None
    assert case["evidence_count"] == 0
    assert get_case(client, auth, "2026-0042") == case

    created = actions(container, "case:create")
    assert len(created) == 1
    assert created[0].object_type == "case" and created[0].object_id == "2026-0042"
    assert created[0].actor_name == "ivy" and created[0].outcome == "success"
    assert created[0].details_dict["fields"]["title"] == "Burglary at 5 Elm St"


def test_duplicate_number_is_409(client: TestClient, auth: dict[str, str], container: Container) -> None:
    create_case(client, auth, "C-1", title="First")
    assert_problem(client.post(CASES, headers=auth, json={"number": "C-1", "title": "Second"}), 409)
    assert get_case(client, auth, "C-1")["title"] == "First"
    assert len(actions(container, "case:create")) == 1


def test_invalid_case_input_is_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    bad_bodies: list[dict[str, Any]] = [
        {"number": "has space", "title": "t"},
        {"number": "-leading-dash", "title": "t"},
        {"number": "../etc", "title": "t"},
        {"number": "semi;colon", "title": "t"},
        {"number": "", "title": "t"},
        {"number": "x" * 65, "title": "t"},
        {"number": "C-2", "title": ""},
        {"number": "C-2", "title": "   "},
        {"number": "C-2", "title": "t" * 201},
        {"number": "C-2", "title": "bell\x07"},
        {"number": "C-2"},
        {"number": "C-2", "title": "t", "unknown": 1},
    ]
    for body in bad_bodies:
        r = client.post(CASES, headers=auth, json=body)
        assert r.status_code == 422, (body, r.text)
        assert_problem(r, 422)
    assert client.get(CASES, headers=auth).json()["total"] == 0
    assert actions(container, "case:create") == []


def test_get_unknown_case_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert_problem(client.get(f"{CASES}/NOPE-1", headers=auth), 404)


def test_list_and_filter_by_status(client: TestClient, auth: dict[str, str]) -> None:
    for n in ("A-1", "A-2", "A-3"):
        create_case(client, auth, n)
    r = client.post(f"{CASES}/A-2/close", headers=auth, json={"reason": "solved"})
    assert r.status_code == 200, r.text

    page = client.get(CASES, headers=auth).json()
    assert page["total"] == 3
    assert {c["number"] for c in page["items"]} == {"A-1", "A-2", "A-3"}
    open_page = client.get(CASES, headers=auth, params={"status": "open"}).json()
    assert open_page["total"] == 2
    assert {c["number"] for c in open_page["items"]} == {"A-1", "A-3"}
    closed_page = client.get(CASES, headers=auth, params={"status": "closed"}).json()
    assert closed_page["total"] == 1
    assert [c["number"] for c in closed_page["items"]] == ["A-2"]
    paged = client.get(CASES, headers=auth, params={"limit": 2, "offset": 2}).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1
    assert paged["limit"] == 2 and paged["offset"] == 2
    assert_problem(client.get(CASES, headers=auth, params={"status": "archived"}), 422)
    assert_problem(client.get(CASES, headers=auth, params={"limit": 0}), 422)


def test_patch_with_reason(client: TestClient, auth: dict[str, str], container: Container) -> None:
    create_case(client, auth, "E-1", case_type="theft")
    r = client.patch(
        f"{CASES}/E-1",
        headers=auth,
        json={"reason": "charges upgraded", "title": "Armed robbery", "case_type": "robbery"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Armed robbery"
    assert r.json()["case_type"] == "robbery"
    assert get_case(client, auth, "E-1")["title"] == "Armed robbery"
    edits = actions(container, "case:edit")
    assert len(edits) == 1
    assert edits[0].object_id == "E-1" and edits[0].reason == "charges upgraded"
    assert edits[0].details_dict["changes"] == {
        "title": {"old": "Case E-1", "new": "Armed robbery"},
        "case_type": {"old": "theft", "new": "robbery"},
    }


def test_patch_without_reason_is_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    create_case(client, auth, "E-2")
    for body in ({"title": "x"}, {"reason": "", "title": "x"}, {"reason": "  ", "title": "x"}):
        r = client.patch(f"{CASES}/E-2", headers=auth, json=body)
        assert r.status_code == 422, (body, r.text)
        assert_problem(r, 422)
    assert get_case(client, auth, "E-2")["title"] == "Case E-2"
    assert actions(container, "case:edit") == []


def test_close_and_reopen(client: TestClient, auth: dict[str, str], container: Container) -> None:
    create_case(client, auth, "L-1")
    assert_problem(client.post(f"{CASES}/L-1/close", headers=auth, json={}), 422)
    assert_problem(client.post(f"{CASES}/L-1/close", headers=auth, json={"reason": ""}), 422)
    assert_problem(client.post(f"{CASES}/L-1/close", headers=auth, json={"reason": "   "}), 422)
    assert get_case(client, auth, "L-1")["status"] == "open"

    r = client.post(f"{CASES}/L-1/close", headers=auth, json={"reason": "adjudicated"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closed_at"] is not None
    assert get_case(client, auth, "L-1")["status"] == "closed"
    assert_problem(client.post(f"{CASES}/L-1/close", headers=auth, json={"reason": "again"}), 409)

    assert_problem(client.post(f"{CASES}/L-1/reopen", headers=auth, json={}), 422)
    r = client.post(f"{CASES}/L-1/reopen", headers=auth, json={"reason": "appeal"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["closed_at"] is None
    assert_problem(client.post(f"{CASES}/L-1/reopen", headers=auth, json={"reason": "again"}), 409)

    lifecycle = [(e.action, e.reason) for e in events(container) if e.object_type == "case"]
    assert lifecycle == [("case:create", None), ("case:close", "adjudicated"), ("case:reopen", "appeal")]


def test_close_unknown_case_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert_problem(client.post(f"{CASES}/NOPE-2/close", headers=auth, json={"reason": "x"}), 404)


# -- evidence membership ---------------------------------------------------------------------


def test_add_list_and_remove_evidence(client: TestClient, auth: dict[str, str], container: Container) -> None:
    create_case(client, auth, "M-1")
    a = ingest(client, auth, png_bytes(seed=1))
    b = ingest(client, auth, pdf_bytes(), filename="report.pdf")

    r = client.post(
        f"{CASES}/M-1/evidence", headers=auth, json={"evidence_id": a["id"], "reason": "scene photo"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["evidence_count"] == 1
    r = client.post(f"{CASES}/M-1/evidence", headers=auth, json={"evidence_id": b["id"].lower()})
    assert r.status_code == 201, r.text
    assert r.json()["evidence_count"] == 2
    assert get_item(client, auth, a["id"])["case_numbers"] == ["M-1"]
    assert get_item(client, auth, b["id"])["case_numbers"] == ["M-1"]

    members = client.get(f"{CASES}/M-1/evidence", headers=auth)
    assert members.status_code == 200, members.text
    assert {i["id"] for i in members.json()} == {a["id"], b["id"]}
    assert all(i["case_numbers"] == ["M-1"] for i in members.json())
    listed = client.get(EVIDENCE, headers=auth, params={"case": "M-1"}).json()
    assert {i["id"] for i in listed["items"]} == {a["id"], b["id"]}

    # Adding again is a conflict and records nothing new.
    before = len(actions(container, "case:add_evidence"))
    assert_problem(client.post(f"{CASES}/M-1/evidence", headers=auth, json={"evidence_id": a["id"]}), 409)
    assert len(actions(container, "case:add_evidence")) == before
    assert get_case(client, auth, "M-1")["evidence_count"] == 2

    # Removing needs a reason.
    assert_problem(client.delete(f"{CASES}/M-1/evidence/{a['id']}", headers=auth), 422)
    assert_problem(
        client.delete(f"{CASES}/M-1/evidence/{a['id']}", headers=auth, params={"reason": " "}), 422
    )
    assert get_item(client, auth, a["id"])["case_numbers"] == ["M-1"]

    r = client.delete(f"{CASES}/M-1/evidence/{a['id']}", headers=auth, params={"reason": "wrong case"})
    assert r.status_code == 200, r.text
    assert r.json()["evidence_count"] == 1
    assert get_item(client, auth, a["id"])["case_numbers"] == []
    assert [i["id"] for i in client.get(f"{CASES}/M-1/evidence", headers=auth).json()] == [b["id"]]
    # Removing what is not there is 404.
    r = client.delete(f"{CASES}/M-1/evidence/{a['id']}", headers=auth, params={"reason": "again"})
    assert_problem(r, 404)

    case_events = [(e.action, e.object_type, e.object_id, facts(e)) for e in events(container)]
    assert ("case:add_evidence", "case", "M-1", {"evidence_id": a["id"]}) in case_events
    assert ("evidence:link_case", "evidence", a["id"], {"case_number": "M-1"}) in case_events
    assert ("case:add_evidence", "case", "M-1", {"evidence_id": b["id"]}) in case_events
    assert ("evidence:link_case", "evidence", b["id"], {"case_number": "M-1"}) in case_events
    removed = actions(container, "case:remove_evidence")
    assert [(e.object_id, e.reason, facts(e)) for e in removed] == [
        ("M-1", "wrong case", {"evidence_id": a["id"]})
    ]
    unlinked = actions(container, "evidence:unlink_case")
    assert [(e.object_id, e.reason) for e in unlinked] == [(a["id"], "wrong case")]
    # The item's own custody history shows the link and the unlink.
    history = client.get(f"{EVIDENCE}/{a['id']}/custody", headers=auth).json()
    assert [e["action"] for e in history if "case" in e["action"]] == [
        "evidence:link_case",
        "evidence:unlink_case",
    ]


def test_add_unknown_or_malformed_evidence(client: TestClient, auth: dict[str, str]) -> None:
    create_case(client, auth, "M-2")
    assert_problem(
        client.post(f"{CASES}/M-2/evidence", headers=auth, json={"evidence_id": "EV-2020-999999"}), 404
    )
    assert_problem(client.post(f"{CASES}/M-2/evidence", headers=auth, json={"evidence_id": "nope"}), 422)
    item = ingest(client, auth, png_bytes(seed=2))
    assert_problem(
        client.post(f"{CASES}/NOPE-3/evidence", headers=auth, json={"evidence_id": item["id"]}), 404
    )
    assert get_item(client, auth, item["id"])["case_numbers"] == []


def test_closed_case_refuses_evidence_changes(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    create_case(client, auth, "K-1")
    inside = ingest(client, auth, png_bytes(seed=3))
    outside = ingest(client, auth, png_bytes(seed=4))
    r = client.post(f"{CASES}/K-1/evidence", headers=auth, json={"evidence_id": inside["id"]})
    assert r.status_code == 201
    assert client.post(f"{CASES}/K-1/close", headers=auth, json={"reason": "done"}).status_code == 200

    assert_problem(
        client.post(f"{CASES}/K-1/evidence", headers=auth, json={"evidence_id": outside["id"]}), 409
    )
    r = client.delete(f"{CASES}/K-1/evidence/{inside['id']}", headers=auth, params={"reason": "x"})
    assert_problem(r, 409)
    # Ingesting straight into a closed case is refused before any byte is stored.
    r = client.post(
        EVIDENCE, params={"filename": "late.png", "case": "K-1"}, content=png_bytes(seed=5), headers=auth
    )
    assert_problem(r, 409)

    assert get_item(client, auth, outside["id"])["case_numbers"] == []
    assert get_item(client, auth, inside["id"])["case_numbers"] == ["K-1"]
    assert client.get(EVIDENCE, headers=auth).json()["total"] == 2
    assert get_case(client, auth, "K-1")["evidence_count"] == 1
    assert len(actions(container, "case:add_evidence")) == 1


def test_ingest_with_case_links_the_item(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    create_case(client, auth, "I-1")
    r = client.post(
        EVIDENCE, params={"filename": "scene.png", "case": "I-1"}, content=png_bytes(seed=6), headers=auth
    )
    assert r.status_code == 201, r.text
    item = r.json()["item"]
    assert item["case_numbers"] == ["I-1"]
    assert get_item(client, auth, item["id"])["case_numbers"] == ["I-1"]
    assert [i["id"] for i in client.get(f"{CASES}/I-1/evidence", headers=auth).json()] == [item["id"]]
    assert get_case(client, auth, "I-1")["evidence_count"] == 1
    links = actions(container, "evidence:link_case")
    assert [(e.object_id, facts(e)) for e in links] == [(item["id"], {"case_number": "I-1"})]
    adds = actions(container, "case:add_evidence")
    assert [(e.object_id, facts(e)) for e in adds] == [("I-1", {"evidence_id": item["id"]})]


def test_duplicate_ingest_into_another_case_links_the_existing_item(
    client: TestClient, auth: dict[str, str]
) -> None:
    create_case(client, auth, "D-1")
    create_case(client, auth, "D-2")
    data = png_bytes(seed=7)
    first = ingest(client, auth, data, case="D-1")
    r = client.post(EVIDENCE, params={"filename": "again.png", "case": "D-2"}, content=data, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is True
    assert r.json()["item"]["id"] == first["id"]
    assert sorted(r.json()["item"]["case_numbers"]) == ["D-1", "D-2"]
    assert sorted(get_item(client, auth, first["id"])["case_numbers"]) == ["D-1", "D-2"]


# -- access ----------------------------------------------------------------------------------


def test_officer_cannot_manage_cases(
    client: TestClient, token_for: TokenFor, auth: dict[str, str], container: Container
) -> None:
    create_case(client, auth, "P-1")
    olga = token_for("olga", "officer")
    mine = ingest(client, olga, png_bytes(seed=8))
    # Until she is named on the case, it does not exist for her.
    assert_problem(client.get(f"{CASES}/P-1", headers=olga), 404)
    assert client.get(CASES, headers=olga).json()["total"] == 0
    r = client.post(f"{CASES}/P-1/members", headers=auth, json={"username": "olga"})
    assert r.status_code == 201, r.text

    assert_problem(client.post(CASES, headers=olga, json={"number": "P-2", "title": "mine"}), 403)
    assert_problem(client.patch(f"{CASES}/P-1", headers=olga, json={"reason": "r", "title": "x"}), 403)
    assert_problem(client.post(f"{CASES}/P-1/close", headers=olga, json={"reason": "r"}), 403)
    assert_problem(client.post(f"{CASES}/P-1/evidence", headers=olga, json={"evidence_id": mine["id"]}), 403)
    # Officers may still view cases.
    assert get_case(client, olga, "P-1")["title"] == "Case P-1"
    assert client.get(CASES, headers=olga).json()["total"] == 1

    assert_problem(client.get(f"{CASES}/P-2", headers=auth), 404)
    assert get_case(client, auth, "P-1")["status"] == "open"
    assert get_item(client, olga, mine["id"])["case_numbers"] == []
    denied = [(e.action, e.object_id, e.actor_name) for e in events(container) if e.outcome == "denied"]
    assert denied == [
        ("case:view", "P-1", "olga"),
        ("case:create", "P-2", "olga"),
        ("case:edit", "P-1", "olga"),
        ("case:close", "P-1", "olga"),
        ("case:add_evidence", "P-1", "olga"),
    ]


def test_case_members_hide_items_outside_the_callers_scope(
    client: TestClient, token_for: TokenFor, auth: dict[str, str]
) -> None:
    create_case(client, auth, "S-1")
    olga, otto = token_for("olga", "officer"), token_for("otto", "officer")
    for name in ("olga", "otto"):
        assert client.post(f"{CASES}/S-1/members", headers=auth, json={"username": name}).status_code == 201
    hers = ingest(client, olga, png_bytes(seed=9), case="S-1")
    # An officer may not hide what he uploads...
    r = client.post(
        EVIDENCE,
        params={"filename": "h.png", "restriction": "restricted"},
        content=png_bytes(seed=10),
        headers=otto,
    )
    assert_problem(r, 403)
    his = ingest(client, otto, png_bytes(seed=10), case="S-1")
    # ...a supervisor restricts it (and is named on it).
    sue = token_for("sue", "supervisor")
    r = client.patch(
        f"/api/v1/evidence/{his['id']}",
        headers=sue,
        json={"reason": "informant", "restriction": "restricted"},
    )
    assert_problem(r, 404)  # not in her unit, not named: she cannot even see it
    cora = token_for("cora", "evidence_custodian")
    r = client.patch(
        f"/api/v1/evidence/{his['id']}",
        headers=cora,
        json={"reason": "informant", "restriction": "restricted"},
    )
    assert r.status_code == 200, r.text
    # Members work the case's normal evidence; an item restricted on its own stays with the
    # people named on it (the custodian) and its uploader.
    assert {i["id"] for i in client.get(f"{CASES}/S-1/evidence", headers=otto).json()} == {
        hers["id"],
        his["id"],
    }
    assert [i["id"] for i in client.get(f"{CASES}/S-1/evidence", headers=olga).json()] == [hers["id"]]
    assert [i["id"] for i in client.get(f"{CASES}/S-1/evidence", headers=auth).json()] == [hers["id"]]
    # Taking otto off the case leaves him his own item only.
    r = client.delete(f"{CASES}/S-1/members/otto", headers=auth, params={"reason": "reassigned"})
    assert r.status_code == 200 and r.json()["members"] == ["ivy", "olga"], r.text
    assert_problem(client.get(f"{CASES}/S-1/evidence", headers=otto), 404)
    assert get_item(client, otto, his["id"])["id"] == his["id"]


def test_cases_need_a_token(client: TestClient) -> None:
    assert_problem(client.get(CASES), 401)
    assert_problem(client.post(CASES, json={"number": "Z-1", "title": "t"}), 401)


def test_evidence_count_only_counts_what_the_caller_may_see(client: TestClient, token_for: TokenFor) -> None:
    ivy = token_for("ivy2", "investigator")
    olga = token_for("olga2", "officer")
    create_case(client, ivy, "2026-CNT-1")
    r = client.post(f"{CASES}/2026-CNT-1/members", headers=ivy, json={"username": "olga2"})
    assert r.status_code == 201, r.text

    items = {}
    for seed, who in ((71, ivy), (72, olga)):
        r = client.post(
            f"/api/v1/evidence?filename=p{seed}.png&case=2026-CNT-1",
            headers=who,
            content=png_bytes(seed=seed),
        )
        assert r.status_code == 201, r.text
        items[seed] = r.json()["item"]["id"]
    custodian = token_for("cora2", "evidence_custodian")
    r = client.patch(
        f"/api/v1/evidence/{items[72]}", headers=custodian, json={"reason": "r", "restriction": "restricted"}
    )
    assert r.status_code == 200, r.text
    assert client.get(f"{CASES}/2026-CNT-1", headers=olga).json()["evidence_count"] == 2
    assert client.get(f"{CASES}/2026-CNT-1", headers=ivy).json()["evidence_count"] == 1
    listed = {c["number"]: c for c in client.get(CASES, headers=ivy).json()["items"]}
    assert listed["2026-CNT-1"]["evidence_count"] == 1

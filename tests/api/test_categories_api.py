"""The categories API: read by whoever sees evidence, changed by category:manage, enforced on
evidence uploaded and edited through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import png_bytes

CATS = "/api/v1/categories"


def test_categories_through_the_api(client: TestClient, token_for) -> None:  # type: ignore[no-untyped-def]
    custodian = token_for("cora", "evidence_custodian")
    officer = token_for("olga", "officer")
    administrator = token_for("ada", "administrator")

    assert client.get(CATS, headers=officer).json() == []
    # Free text while the agency has no categories.
    free = client.post(
        "/api/v1/evidence",
        params={"filename": "a.png", "category": "my own words"},
        content=png_bytes(seed=1),
        headers=officer,
    )
    assert free.status_code == 201, free.text

    r = client.post(CATS, json={"name": "Traffic stop", "retention_days": 365}, headers=custodian)
    assert r.status_code == 201, r.text
    traffic = r.json()
    assert (traffic["name"], traffic["retention_days"], traffic["active"], traffic["created_by"]) == (
        "Traffic stop",
        365,
        True,
        "cora",
    )
    assert client.post(CATS, json={"name": "Arrest"}, headers=administrator).status_code == 201
    assert client.post(CATS, json={"name": "Theft"}, headers=officer).status_code == 403
    dup = client.post(CATS, json={"name": "traffic  stop"}, headers=custodian)
    assert dup.status_code == 409 and "already exists" in dup.json()["detail"]
    bad = client.post(CATS, json={"name": "Bad", "retention_days": 0}, headers=custodian)
    assert bad.status_code == 422

    refused = client.post(
        "/api/v1/evidence",
        params={"filename": "b.png", "category": "Burglary"},
        content=png_bytes(seed=2),
        headers=officer,
    )
    assert refused.status_code == 422
    assert (
        refused.json()["detail"]
        == "unknown or inactive category 'Burglary'; categories: Arrest, Traffic stop"
    )
    ok = client.post(
        "/api/v1/evidence",
        params={"filename": "b.png", "category": "TRAFFIC STOP"},
        content=png_bytes(seed=2),
        headers=officer,
    )
    assert ok.status_code == 201 and ok.json()["item"]["category"] == "Traffic stop", ok.text
    item = ok.json()["item"]["id"]
    edit = client.patch(f"/api/v1/evidence/{item}", json={"reason": "r", "category": "Nope"}, headers=officer)
    assert edit.status_code == 422 and "categories: Arrest, Traffic stop" in edit.json()["detail"]

    changed = client.patch(
        f"{CATS}/{traffic['id']}", json={"description": "Stops", "reason": "policy"}, headers=custodian
    )
    assert changed.status_code == 200 and changed.json()["description"] == "Stops"
    assert client.patch(f"{CATS}/{traffic['id']}", json={"active": False}, headers=officer).status_code == 403
    off = client.post(f"{CATS}/{traffic['id']}/deactivate", json={"reason": "merged"}, headers=custodian)
    assert off.status_code == 200 and off.json()["active"] is False
    assert [x["name"] for x in client.get(CATS, headers=officer).json()] == ["Arrest"]
    everything = client.get(CATS, params={"include_inactive": "true"}, headers=administrator).json()
    assert [(x["name"], x["active"]) for x in everything] == [("Arrest", True), ("Traffic stop", False)]
    assert client.post(f"{CATS}/4242/deactivate", headers=custodian).status_code == 404

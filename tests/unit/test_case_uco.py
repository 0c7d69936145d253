"""The CASE/UCO provenance graph of a court export, checked by the CASE project's own validator
(``case_validate`` from case-utils, with the ontology it bundles; no network)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from opendems.domain.provenance import CASE_VERSION, case_uco_graph
from opendems.domain.reports import CustodyReport, ReportEvent, ReportFile

EXPORT_ID = "EXP-2026-000007"
EXPORTED_BY = "dgarcía"
AGENCY = "Springfield Police Department"

# Refuses any socket: loaded into the validator's interpreter to prove it never touches the network.
_NO_NETWORK = """
import socket
import sys

def _refuse(*args, **kwargs):
    raise OSError("network access attempted during validation")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
sys.stderr.write("network guard active\\n")
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ev(seq: int, action: str, actor: str = "ofc.miller", **kw: Any) -> ReportEvent:
    minute, second = divmod(seq, 60)
    return ReportEvent(
        seq=seq,
        at=kw.pop("at", f"2026-11-26T10:{minute:02d}:{second:02d}.{seq:06d}Z"),
        action=action,
        actor=actor,
        actor_id=kw.pop("actor_id", None if actor == "system" else 7),
        outcome=kw.pop("outcome", "success"),
        reason=kw.pop("reason", None),
        service=kw.pop("service", "api"),
        endpoint=kw.pop("endpoint", "GET /api/v1/evidence/{id}"),
        client_address=kw.pop("client_address", "10.0.0.12"),
        details=kw.pop("details", {}),
        event_hash=sha(f"event-{seq}"),
    )


ORIGINAL = sha("clip.mp4")
PROXY = sha("clip-proxy.mp4")
REDACTED = sha("clip-redacted.mp4")
PHOTO = sha("scene.jpg")


def video_report() -> CustodyReport:
    files = [
        ReportFile("original", "clip.mp4", "video/mp4", 104_857_600, ORIGINAL, "2026-11-26T09:58:00.000000Z"),
        ReportFile(
            "proxy",
            "clip-proxy.mp4",
            "video/mp4",
            9_437_184,
            PROXY,
            "2026-11-26T10:00:05.000000Z",
            source_sha256=ORIGINAL,
            tool="PyAV 18.1.0 (FFmpeg 7.1)",
            parameters={"codec": "h264", "crf": 28, "height": 720},
        ),
        ReportFile(
            "redacted",
            "clip-redacted.mp4",
            "video/mp4",
            9_123_456,
            REDACTED,
            "2026-11-26T10:20:00.000000Z",
            source_sha256=ORIGINAL,
            tool="OpenDEMS redaction 1.4.2",
            parameters={"plan_version": 3, "boxes": [[10, 20, 30, 40]], "blur": "gaussian"},
        ),
    ]
    events = [ev(1, "evidence:ingest", details={"sha256": ORIGINAL, "via": "dock"})]
    events.append(ev(2, "evidence:derive", "system", service="worker", details={"sha256": PROXY}))
    for seq in range(3, 30):
        if seq == 17:
            events.append(
                ev(
                    seq,
                    "evidence:download",
                    "Zoë Ångström-Núñez",
                    actor_id=42,
                    outcome="denied",
                    reason="not a member of case 2026-001234",
                    endpoint="GET /api/v1/evidence/{id}/download",
                    client_address="203.0.113.9",
                )
            )
        elif seq == 23:
            events.append(
                ev(seq, "evidence:derive", "system", service="worker", details={"sha256": REDACTED})
            )
        elif seq == 25:
            events.append(ev(seq, "evidence:stream", outcome="failed", reason="proxy missing", details={}))
        else:
            action = ["evidence:view", "evidence:stream", "evidence:metadata_edit"][seq % 3]
            events.append(ev(seq, action, details={"changes": {"title": ["a", "b"]}} if seq % 3 == 2 else {}))
    events.append(ev(30, "evidence:export", EXPORTED_BY, actor_id=3))
    return CustodyReport(
        agency=AGENCY,
        evidence_id="EV-2026-000001",
        title="Traffic stop, Main St & 3rd",
        kind="video",
        case_numbers=["2026-001234"],
        captured_at="2026-11-26T09:41:12.000000Z",
        captured_by="ofc.miller",
        device="Axon Body 4, serial X123",
        location=None,
        files=files,
        events=events,
        chain_ok=True,
        chain_status="All 30 events link and their hashes match.",
        generated_at="2026-12-01T09:29:59.000000Z",
        generated_by=EXPORTED_BY,
    )


def photo_report() -> CustodyReport:
    return CustodyReport(
        agency=AGENCY,
        evidence_id="EV-2026-000002",
        title="Scene photo",
        kind="image",
        case_numbers=["2026-001234", "2026-001240"],
        captured_at="2026-11-26T09:45:00Z",
        captured_by="Det. Ana Pérez",
        device=None,
        location="40.712800, -74.006000",
        files=[
            ReportFile("original", "scene.jpg", "image/jpeg", 2_345_678, PHOTO, "2026-11-26T11:00:00.000000Z")
        ],
        events=[
            ev(31, "evidence:ingest", "det.perez", details={"sha256": PHOTO}),
            ev(32, "evidence:view", "det.perez"),
        ],
        chain_ok=True,
        chain_status="All 2 events link and their hashes match.",
        generated_at="2026-12-01T09:29:59.000000Z",
        generated_by=EXPORTED_BY,
    )


PACKAGE = {
    "data/EV-2026-000001/original/clip.mp4": ORIGINAL,
    "data/EV-2026-000001/derivatives/clip-redacted.mp4": REDACTED,
    "data/EV-2026-000002/original/scene.jpg": PHOTO,
    "manifest.json": sha("manifest"),
    "reports/EV-2026-000001-custody.pdf": sha("report-1"),
}


def build() -> dict[str, Any]:
    return export_graph([video_report(), photo_report()], package_files=PACKAGE)


def export_graph(
    reports: list[CustodyReport],
    *,
    export_id: str = EXPORT_ID,
    exported_at: str = "2026-12-01T09:30:00.000000Z",
    package_files: dict[str, str] | None = None,
) -> dict[str, Any]:
    return case_uco_graph(
        reports,
        export_id=export_id,
        exported_at=exported_at,
        exported_by=EXPORTED_BY,
        agency=AGENCY,
        tool_version="1.4.2",
        package_files=package_files,
    )


def case_validate_command() -> list[str]:
    found = shutil.which("case_validate") or str(Path(sys.executable).with_name("case_validate"))
    assert Path(found).exists(), "case_validate (case-utils, a test dependency) is not installed"
    return [found]


def validate(graph: dict[str, Any], tmp_path: Path, name: str) -> tuple[int, str, float]:
    """Run case_validate on the graph, with every socket refused; (exit code, output, seconds)."""
    path = tmp_path / f"{name}.jsonld"
    path.write_text(json.dumps(graph, ensure_ascii=False, indent=1), encoding="utf-8")
    guard = tmp_path / "no_network"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_NO_NETWORK, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")])),
        "PYTHONWARNINGS": "default",
    }
    started = time.monotonic()
    done = subprocess.run(
        [*case_validate_command(), str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    return build()


def nodes_of(graph: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in graph["@graph"] if n["@type"] == kind]


def test_the_graph_conforms_to_case(graph: dict[str, Any], tmp_path: Path) -> None:
    code, output, seconds = validate(graph, tmp_path, "export")
    assert "network guard active" in output  # the validator really ran with sockets refused
    assert "network access attempted" not in output
    assert code == 0, output
    assert "Conforms: True" in output
    assert seconds < 60, f"case_validate took {seconds:.1f} s"


def test_the_validator_rejects_a_broken_hash_and_a_text_size(graph: dict[str, Any], tmp_path: Path) -> None:
    broken = copy.deepcopy(graph)
    original = next(n for n in nodes_of(broken, "uco-observable:File") if n.get("uco-core:tag") == "original")
    file_facet, content = original["uco-core:hasFacet"]
    content["uco-observable:hash"][0]["uco-types:hashValue"]["@value"] = "not-hex-at-all"
    file_facet["uco-observable:sizeInBytes"] = "about 100 MB"
    code, output, _ = validate(broken, tmp_path, "broken")
    assert code != 0
    assert "Conforms: False" in output
    assert "hashValue" in output
    assert "sizeInBytes" in output


def test_same_input_same_graph() -> None:
    first = json.dumps(build(), sort_keys=True, ensure_ascii=False)
    second = json.dumps(build(), sort_keys=True, ensure_ascii=False)
    assert first == second
    assert json.dumps(build(), ensure_ascii=False) == json.dumps(build(), ensure_ascii=False)  # order too


def test_a_different_export_gets_different_node_ids() -> None:
    other = export_graph([photo_report()], export_id="EXP-2026-000008")
    ids = {n["@id"] for n in build()["@graph"]}
    assert ids.isdisjoint({n["@id"] for n in other["@graph"]})
    assert other["@context"]["kb"] == "urn:opendems:export:EXP-2026-000008:"


def test_ids_are_unique_and_end_in_a_uuid(graph: dict[str, Any]) -> None:
    text = json.dumps(graph)
    all_ids = re.findall(r'"@id": "(kb:[^"]+)"', text)
    defined = [n["@id"] for n in graph["@graph"]]
    assert len(defined) == len(set(defined))
    uuid_tail = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert all(uuid_tail.search(i) for i in all_ids)


def test_every_event_and_every_hash_is_there(graph: dict[str, Any]) -> None:
    events = [
        n for n in nodes_of(graph, "case-investigation:InvestigativeAction") if "custody-event" in n["@id"]
    ]
    reports = [video_report(), photo_report()]
    expected = {(e.seq, e.event_hash) for r in reports for e in r.events}
    found = set()
    for node in events:
        m = re.fullmatch(
            r"seq=(\d+) event_hash=([0-9a-f]{64})",
            node["uco-core:externalReference"]["uco-core:externalIdentifier"],
        )
        assert m, node
        found.add((int(m.group(1)), m.group(2)))
        assert m.group(2) in node["uco-core:description"]
    assert found == expected
    assert len(events) == 32

    text = json.dumps(graph, ensure_ascii=False)
    for digest in [ORIGINAL, PROXY, REDACTED, PHOTO, *PACKAGE.values()]:
        assert f'"@value": "{digest}"' in text
    # one file node per SHA-256: the package paths are added to the described files
    files = nodes_of(graph, "uco-observable:File")
    assert len(files) == 6  # 4 evidence files + manifest + report PDF
    original = next(f for f in files if f.get("uco-core:tag") == "original" and "clip.mp4" in json.dumps(f))
    assert (
        original["uco-core:hasFacet"][0]["uco-observable:filePath"] == "data/EV-2026-000001/original/clip.mp4"
    )


def test_the_denied_download_keeps_its_reason_and_actor(graph: dict[str, Any]) -> None:
    denied = next(n for n in graph["@graph"] if n["@id"].startswith("kb:custody-event-17-"))
    assert denied["uco-action:actionStatus"] == "Fail"
    assert "not a member of case 2026-001234" in denied["uco-core:description"]
    person = next(n for n in graph["@graph"] if n["@id"] == denied["uco-action:performer"]["@id"])
    assert person == {**person, "@type": "uco-identity:Person", "uco-core:name": "Zoë Ångström-Núñez"}
    assert denied["uco-action:startTime"] == {
        "@type": "xsd:dateTime",
        "@value": "2026-11-26T10:00:17.000017Z",
    }


def test_derivations_name_tool_parameters_and_source(graph: dict[str, Any]) -> None:
    by_id = {n["@id"]: n for n in graph["@graph"]}
    original_id = next(
        n["@id"] for n in nodes_of(graph, "uco-observable:File") if f'"{ORIGINAL}"' in json.dumps(n)
    )
    derivations = [n for n in graph["@graph"] if n["@id"].startswith("kb:derivation-action-")]
    assert len(derivations) == 2
    for action in derivations:
        assert action["uco-action:object"] == {"@id": original_id}
        result = by_id[action["uco-action:result"]["@id"]]
        assert result["case-investigation:wasDerivedFrom"] == {"@id": original_id}
        tool = by_id[action["uco-action:instrument"]["@id"]]
        assert tool["@type"] == "uco-tool:ConfiguredTool"
        assert by_id[tool["uco-configuration:isConfigurationOf"]["@id"]]["@type"] == "uco-tool:Tool"
    proxy_tool = next(n for n in nodes_of(graph, "uco-tool:ConfiguredTool") if n["uco-core:name"] == "PyAV")
    assert proxy_tool["uco-tool:version"] == "18.1.0"
    entries = proxy_tool["uco-configuration:usesConfiguration"]["uco-configuration:configurationEntry"]
    assert {(e["uco-configuration:itemName"], e["uco-configuration:itemValue"]) for e in entries} == {
        ("codec", "h264"),
        ("crf", "28"),
        ("height", "720"),
    }


def test_acquisition_location_exhibits_and_export(graph: dict[str, Any]) -> None:
    by_id = {n["@id"]: n for n in graph["@graph"]}
    location = nodes_of(graph, "uco-location:Location")[0]
    facet = location["uco-core:hasFacet"][0]
    assert facet["@type"] == "uco-location:LatLongCoordinatesFacet"
    assert facet["uco-location:latitude"] == {"@type": "xsd:decimal", "@value": "40.712800"}
    assert facet["uco-location:longitude"] == {"@type": "xsd:decimal", "@value": "-74.006000"}

    acquisitions = [n for n in graph["@graph"] if n["@id"].startswith("kb:acquisition-action-")]
    assert len(acquisitions) == 2
    video = next(a for a in acquisitions if "uco-action:instrument" in a)
    assert by_id[video["uco-action:instrument"]["@id"]]["uco-core:name"] == "Axon Body 4, serial X123"
    assert by_id[video["uco-action:performer"]["@id"]]["uco-core:name"] == "ofc.miller"

    records = nodes_of(graph, "case-investigation:ProvenanceRecord")
    assert sorted(r["case-investigation:exhibitNumber"] for r in records) == [
        "EV-2026-000001",
        "EV-2026-000002",
    ]
    video_record = next(r for r in records if r["case-investigation:exhibitNumber"] == "EV-2026-000001")
    assert len(video_record["uco-core:object"]) == 3
    investigations = nodes_of(graph, "case-investigation:Investigation")
    assert sorted(i["uco-core:name"] for i in investigations) == ["2026-001234", "2026-001240"]

    export = next(n for n in graph["@graph"] if n["@id"].startswith("kb:export-action-"))
    assert by_id[export["uco-action:performer"]["@id"]]["uco-core:name"] == EXPORTED_BY
    tool = by_id[export["uco-action:instrument"]["@id"]]
    assert (tool["uco-core:name"], tool["uco-tool:version"]) == ("OpenDEMS", "1.4.2")
    assert len(export["uco-action:result"]) == len(set(PACKAGE.values()))
    assert {o["@id"] for o in export["uco-action:object"]} == {r["@id"] for r in records}


def test_bad_input_is_refused_not_written() -> None:
    report = photo_report()
    with pytest.raises(ValueError, match="SHA-256"):
        export_graph([report], package_files={"x": "zz"})
    with pytest.raises(ValueError, match="date and time"):
        export_graph([report], exported_at="yesterday")


def test_the_bundled_ontology_is_the_one_targeted() -> None:
    from case_utils.ontology import version_info

    assert version_info.CURRENT_CASE_VERSION == CASE_VERSION


def test_unlisted_sources_and_no_package_list() -> None:
    photo = photo_report()
    derived = replace(photo.files[0], role="proxy", source_sha256="A" * 64, tool=None, parameters={})
    graph = export_graph([replace(photo, files=[derived])], package_files={"data/src.bin": "a" * 64})
    files = {n["@id"]: n for n in nodes_of(graph, "uco-observable:File")}
    assert len(files) == 2  # the source, known by hash and package path, is one node
    proxy = next(n for n in files.values() if n.get("uco-core:tag") == "proxy")
    source = files[proxy["case-investigation:wasDerivedFrom"]["@id"]]
    assert source["uco-core:hasFacet"][0]["uco-observable:filePath"] == "data/src.bin"
    assert '"@value": "' + "a" * 64 + '"' in json.dumps(source)

    # without a package list, the export's results are the described files (no hash-only stubs)
    graph = export_graph([video_report(), photo_report()])
    export = next(n for n in graph["@graph"] if n["@id"].startswith("kb:export-action-"))
    assert len(export["uco-action:result"]) == 4

"""CASE/UCO provenance for court exports: a JSON-LD graph that a receiving lab or court can
check with standard tools (``case_validate``) and read without OpenDEMS.

Written against CASE 1.5.0 / UCO 1.5.0 (the ontology bundled with ``case-utils`` 0.18). For
each exported evidence item the graph holds:

* the files: the original and every derivative, each an ``uco-observable:File`` with a
  ``FileFacet`` (name, size, creation time, paths inside the package) and a
  ``ContentDataFacet`` (MIME type, size, SHA-256 as ``uco-types:Hash``). Files are keyed by
  SHA-256, so a file listed twice (or found again among ``package_files``) is one node;
* the acquisition: a ``case-investigation:InvestigativeAction`` whose result is the original,
  performed by whoever captured it, with the capture device as instrument and the capture
  place as ``uco-location:Location`` (with ``LatLongCoordinatesFacet`` when the place is
  "lat, lon");
* every custody event: an ``InvestigativeAction`` named by the event's action, with time,
  performer, object, status (``Success`` / ``Fail`` / ``Error``), a description carrying the
  reason, source and details, and a ``uco-core:ExternalReference`` to the event's place in
  the custody chain (``seq`` and ``event_hash``) -- the hashes are what make the chain
  provable, so they travel verbatim;
* every derivation: an ``InvestigativeAction`` from the source file (object) to the
  derivative (result) with the tool (``uco-tool:ConfiguredTool`` carrying the parameters as
  a ``uco-configuration:Configuration``) as instrument; the derivative also states
  ``case-investigation:wasDerivedFrom`` its source;
* a ``case-investigation:ProvenanceRecord`` per item (exhibit number = evidence id, objects =
  its files) and a ``case-investigation:Investigation`` per case number;
* the export: an ``InvestigativeAction`` performed by the exporting user with OpenDEMS
  (``uco-tool:Tool`` with its version) as instrument, the items' provenance records as
  objects and the exported files as results.

Node identifiers are deterministic: a readable kind, then a name-based UUID (version 5) of
the export id and the node's natural key (SHA-256, evidence id, event seq and hash ...), so
the same input gives the same graph, byte for byte once serialised with sorted keys. UCO
advises identifiers that end in a UUID; these do.

Pure: no I/O. The caller serialises the returned dict (``json.dumps(..., ensure_ascii=False)``
keeps non-ASCII names readable; both forms are valid JSON-LD).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from opendems.domain.reports import CustodyReport, ReportEvent, ReportFile

CASE_VERSION = "1.5.0"
UCO_VERSION = "1.5.0"

PREFIXES: dict[str, str] = {
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-configuration": "https://ontology.unifiedcyberontology.org/uco/configuration/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

# Fixed namespace for the name-based node UUIDs: changing it changes every identifier.
_NODE_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e07-9c1a-0d2e4f6a8b3c")

# Custody outcomes -> UCO ActionStatusTypeVocab.
_STATUS = {"success": "Success", "denied": "Fail", "failed": "Error"}

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_VERSION = re.compile(r"\bv?(\d+(?:\.\d+)+[0-9A-Za-z.+-]*)")
_CHAIN_CONTEXT = "OpenDEMS custody chain (append-only, SHA-256 hash-chained event log)"


def case_uco_graph(
    reports: list[CustodyReport],
    *,
    export_id: str,
    exported_at: str,
    exported_by: str,
    agency: str,
    tool_version: str,
    package_files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The CASE/UCO JSON-LD provenance document of one court export.

    ``package_files`` maps a path inside the export package to the SHA-256 of the file there;
    a path whose file is already described (same SHA-256) becomes one more
    ``uco-observable:filePath`` of that file, any other becomes a new file node. They are
    the export's results; without them, the described files are.

    Times are the custody chain's own text (UTC, ``Z``) and are kept exactly; a time or a
    SHA-256 that is not well formed raises ``ValueError`` (a graph that would not validate
    is never produced silently).
    """
    builder = _Builder(export_id)
    org = builder.organization(agency)
    opendems = builder.opendems_tool(tool_version)

    records: list[str] = []
    for report in reports:
        records.append(builder.report(report, opendems))

    if package_files is None:
        results = [facts.node_id for facts in builder.facts.values() if facts.names]  # not hash-only stubs
    else:
        results = [builder.package_file(path, sha) for path, sha in sorted(package_files.items())]

    names = ", ".join(report.evidence_id for report in reports) or "no items"
    builder.add(
        {
            "@id": builder.iri("export-action", export_id),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "export",
            "uco-core:description": (
                f"Court export {export_id} by {agency} of {len(reports)} evidence item(s): {names}."
            ),
            "uco-core:createdBy": _ref(org),
            "uco-action:actionStatus": "Success",
            "uco-action:startTime": _datetime(exported_at),
            "uco-action:performer": _ref(builder.person(exported_by)),
            "uco-action:instrument": _ref(opendems),
            "uco-action:object": _refs(records),
            "uco-action:result": _refs(_unique(results)),
        }
    )
    builder.finish()
    return {"@context": {"kb": builder.base, **PREFIXES}, "@graph": list(builder.nodes.values())}


@dataclass
class _FileFacts:
    node_id: str
    names: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    derived_from: list[str] = field(default_factory=list)
    mime_type: str | None = None
    size: int | None = None
    created_at: dict[str, str] | None = None


class _Builder:
    """Collects nodes by identifier, in first-seen order (deterministic for a given input)."""

    def __init__(self, export_id: str) -> None:
        if not export_id:
            raise ValueError("an export needs an id")
        self.export_id = export_id
        self.base = f"urn:opendems:export:{quote(export_id, safe='')}:"
        self.nodes: dict[str, dict[str, Any]] = {}
        self.files: dict[str, str] = {}  # sha256 -> file node id
        self.facts: dict[str, _FileFacts] = {}  # sha256 -> what is known about that file

    # -- identifiers and bookkeeping

    def iri(self, kind: str, *key: object, label: str = "") -> str:
        """``kb:<kind>-[<label>-]<UUIDv5 of export id, kind, key>``."""
        name = "\x1f".join([self.export_id, kind, *(str(part) for part in key)])
        return f"kb:{kind}-{label + '-' if label else ''}{uuid.uuid5(_NODE_NAMESPACE, name)}"

    def add(self, node: dict[str, Any]) -> str:
        node_id: str = node["@id"]
        if node_id not in self.nodes:
            self.nodes[node_id] = _compact(node)
        return node_id

    # -- who and what

    def organization(self, name: str) -> str:
        return self.add(
            {
                "@id": self.iri("organization", name),
                "@type": "uco-identity:Organization",
                "uco-core:name": name,
            }
        )

    def person(self, name: str) -> str:
        return self.add(
            {"@id": self.iri("person", name), "@type": "uco-identity:Person", "uco-core:name": name}
        )

    def opendems_tool(self, version: str) -> str:
        return self.add(
            {
                "@id": self.iri("tool", "OpenDEMS", version),
                "@type": "uco-tool:Tool",
                "uco-core:name": "OpenDEMS",
                "uco-core:description": (
                    "The digital evidence management system that kept the evidence, recorded its "
                    "custody chain and made this export (the version is the one that exported; "
                    "earlier events may have been recorded by earlier versions)."
                ),
                "uco-tool:toolType": "digital evidence management system",
                "uco-tool:version": version,
            }
        )

    def device(self, text: str) -> str:
        return self.add(
            {
                "@id": self.iri("device", text),
                "@type": "uco-observable:Device",
                "uco-core:name": text,
            }
        )

    def location(self, text: str) -> str:
        node_id = self.iri("location", text)
        coordinates = _lat_long(text)
        facet = None
        if coordinates is not None:
            latitude, longitude = coordinates
            facet = {
                "@id": self.iri("lat-long-facet", text),
                "@type": "uco-location:LatLongCoordinatesFacet",
                "uco-location:latitude": {"@type": "xsd:decimal", "@value": latitude},
                "uco-location:longitude": {"@type": "xsd:decimal", "@value": longitude},
            }
        return self.add(
            {
                "@id": node_id,
                "@type": "uco-location:Location",
                "uco-core:description": text,
                "uco-core:hasFacet": [facet] if facet else None,
            }
        )

    def derivation_tool(self, file: ReportFile) -> str | None:
        """The tool a derivative was made with; configured with its parameters, if any."""
        if not file.tool:
            return None
        match = _VERSION.search(file.tool)
        version = match.group(1) if match else None
        name = file.tool[: match.start()].strip() if match else ""
        base = self.add(
            {
                "@id": self.iri("tool", file.tool),
                "@type": "uco-tool:Tool",
                "uco-core:name": name or file.tool,
                "uco-core:description": file.tool,
                "uco-tool:version": version,
            }
        )
        if not file.parameters:
            return base
        sha = _sha256(file.sha256)
        entries = [
            {
                "@id": self.iri("configuration-entry", sha, key),
                "@type": "uco-configuration:ConfigurationEntry",
                "uco-configuration:itemName": key,
                "uco-configuration:itemValue": value if isinstance(value, str) else _canonical(value),
            }
            for key, value in sorted(file.parameters.items())
        ]
        return self.add(
            {
                "@id": self.iri("configured-tool", sha),
                "@type": "uco-tool:ConfiguredTool",
                "uco-core:name": name or file.tool,
                "uco-core:description": f"{file.tool}, as configured to make the {file.role} file {file.filename}",
                "uco-tool:version": version,
                "uco-configuration:isConfigurationOf": _ref(base),
                "uco-configuration:usesConfiguration": {
                    "@id": self.iri("configuration", sha),
                    "@type": "uco-configuration:Configuration",
                    "uco-configuration:configurationEntry": entries,
                },
            }
        )

    # -- files (one node per SHA-256; filled in by finish(), once everything about it is known)

    def _file_slot(self, sha256: str) -> _FileFacts:
        sha = _sha256(sha256)
        if sha not in self.files:
            node_id = self.add({"@id": self.iri("file", sha), "@type": "uco-observable:File"})
            self.files[sha] = node_id
            self.facts[sha] = _FileFacts(node_id)
        return self.facts[sha]

    def file(self, file: ReportFile, evidence_id: str) -> str:
        facts = self._file_slot(file.sha256)
        what = "original" if file.role == "original" else f"{file.role} derivative"
        _append(facts.descriptions, f"The {what} file of evidence item {evidence_id}.")
        _append(facts.tags, file.role)
        _append(facts.names, file.filename)
        facts.mime_type = facts.mime_type or file.mime_type or None
        facts.size = _size(file.size) if facts.size is None else facts.size
        facts.created_at = facts.created_at or _datetime(file.created_at)
        return facts.node_id

    def stub_file(self, sha256: str, note: str) -> str:
        """A file known only by its hash (a derivative's source that is not itself listed)."""
        facts = self._file_slot(sha256)
        _append(facts.descriptions, note)
        return facts.node_id

    def package_file(self, path: str, sha256: str) -> str:
        facts = self._file_slot(sha256)
        _append(facts.paths, path)
        if not facts.names:
            _append(facts.descriptions, "A file of the export package.")
            _append(facts.names, path.rsplit("/", 1)[-1])
        return facts.node_id

    def derived_from(self, file_id: str, source_id: str) -> None:
        for facts in self.facts.values():
            if facts.node_id == file_id and source_id != file_id:
                _append(facts.derived_from, source_id)

    def finish(self) -> None:
        for sha, facts in self.facts.items():
            node = self.nodes[facts.node_id]
            file_facet: dict[str, Any] | None = None
            if facts.names or facts.paths:
                file_facet = {
                    "@id": self.iri("file-facet", sha),
                    "@type": "uco-observable:FileFacet",
                    "uco-observable:fileName": _one_or_list(facts.names),
                    "uco-observable:filePath": _one_or_list(facts.paths),
                    "uco-observable:sizeInBytes": facts.size,
                    "uco-observable:observableCreatedTime": facts.created_at,
                }
            content: dict[str, Any] = {
                "@id": self.iri("content-data-facet", sha),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:mimeType": facts.mime_type,
                "uco-observable:sizeInBytes": facts.size,
                "uco-observable:hash": [
                    {
                        "@id": self.iri("hash", sha),
                        "@type": "uco-types:Hash",
                        # UCO >= 1.4: a plain xsd:string from HashNameVocab, not a typed literal.
                        "uco-types:hashMethod": "SHA256",
                        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": sha},
                    }
                ],
            }
            node.update(
                _compact(
                    {
                        "uco-core:description": _one_or_list(facts.descriptions),
                        "uco-core:tag": _one_or_list(facts.tags),
                        "uco-core:hasFacet": [_compact(f) for f in (file_facet, content) if f is not None],
                        "case-investigation:wasDerivedFrom": _one_or_list(_refs(facts.derived_from)),
                    }
                )
            )

    # -- one evidence item

    def report(self, report: CustodyReport, opendems: str) -> str:
        org = self.organization(report.agency)
        file_ids = [self.file(f, report.evidence_id) for f in report.files]
        original = next(
            (fid for f, fid in zip(report.files, file_ids, strict=True) if f.role == "original"), None
        )
        by_sha = {_sha256(f.sha256): fid for f, fid in zip(report.files, file_ids, strict=True)}

        record = self.add(
            {
                "@id": self.iri("provenance-record", report.evidence_id),
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": report.evidence_id,
                "uco-core:name": report.title,
                "uco-core:description": (
                    f"Evidence item {report.evidence_id} ({report.kind}): {report.title}. "
                    f"Custody chain: {report.chain_status}"
                ),
                "uco-core:createdBy": _ref(org),
                "uco-core:object": _refs(_unique(file_ids)),
            }
        )
        for case_number in report.case_numbers:
            self._investigation(case_number, record)

        self._acquisition(report, original)
        for file, file_id in zip(report.files, file_ids, strict=True):
            if file.role != "original":
                self._derivation(report, file, file_id, original)
        for event in report.events:
            target = by_sha.get(str(event.details.get("sha256", "")).lower(), original)
            self._custody_event(event, target, opendems)
        return record

    def _investigation(self, case_number: str, record: str) -> None:
        node_id = self.add(
            {
                "@id": self.iri("investigation", case_number),
                "@type": "case-investigation:Investigation",
                "uco-core:name": case_number,
                "case-investigation:investigationForm": "case",
                "uco-core:object": [],
            }
        )
        node = self.nodes[node_id]
        objects = node.setdefault("uco-core:object", [])
        if _ref(record) not in objects:
            objects.append(_ref(record))

    def _acquisition(self, report: CustodyReport, original: str | None) -> None:
        facts = [f"Capture of evidence item {report.evidence_id} ({report.title})"]
        if report.device:
            facts.append(f"with {report.device}")
        if report.location:
            facts.append(f"at {report.location}")
        self.add(
            {
                "@id": self.iri("acquisition-action", report.evidence_id),
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": "acquisition",
                "uco-core:description": " ".join(facts) + ".",
                "uco-action:startTime": _datetime(report.captured_at) if report.captured_at else None,
                "uco-action:performer": _ref(self.person(report.captured_by)) if report.captured_by else None,
                "uco-action:instrument": _ref(self.device(report.device)) if report.device else None,
                "uco-action:location": _ref(self.location(report.location)) if report.location else None,
                "uco-action:result": _ref(original) if original else None,
            }
        )

    def _derivation(
        self, report: CustodyReport, file: ReportFile, file_id: str, original: str | None
    ) -> None:
        source: str | None
        if file.source_sha256:
            source = self.stub_file(
                file.source_sha256, f"The source of a derivative of evidence item {report.evidence_id}."
            )
        else:
            source = original
        if source is not None:
            self.derived_from(file_id, source)
        sha = _sha256(file.sha256)
        tool = self.derivation_tool(file)
        self.add(
            {
                "@id": self.iri("derivation-action", report.evidence_id, sha),
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": f"derive:{file.role}",
                "uco-core:description": (
                    f"Made the {file.role} file {file.filename} of evidence item {report.evidence_id}"
                    + (
                        f" from the file with SHA-256 {file.source_sha256.lower()}"
                        if file.source_sha256
                        else ""
                    )
                    + (f" with {file.tool}" if file.tool else "")
                    + (f"; parameters {_canonical(file.parameters)}" if file.parameters else "")
                    + "."
                ),
                "uco-action:actionStatus": "Success",
                "uco-action:startTime": _datetime(file.created_at),
                "uco-action:instrument": _ref(tool) if tool else None,
                "uco-action:object": _ref(source) if source else None,
                "uco-action:result": _ref(file_id),
            }
        )

    def _custody_event(self, event: ReportEvent, target: str | None, opendems: str) -> None:
        event_hash = _sha256(event.event_hash)
        node_id = self.iri("custody-event", event.seq, event_hash, label=str(event.seq))
        if node_id in self.nodes:  # the same event in two items' reports: one action, both objects
            objects = _as_list(self.nodes[node_id].get("uco-action:object"))
            if target is not None and _ref(target) not in objects:
                self.nodes[node_id]["uco-action:object"] = [*objects, _ref(target)]
            return
        system = event.actor == "system" and event.actor_id is None
        performer = opendems if system else self.person(event.actor)
        lines = [
            f"Custody event {event.seq}: {event.action} by {event.actor}"
            + ("" if event.actor_id is None else f" (account {event.actor_id})")
            + f", outcome {event.outcome}.",
        ]
        if event.reason:
            lines.append(f"Reason: {event.reason}")
        source = f"{event.service} {event.endpoint}".strip()
        if event.client_address:
            source += f" from {event.client_address}"
        lines.append(f"Source: {source}")
        if event.details:
            lines.append(f"Details: {_canonical(event.details)}")
        lines.append(f"Event hash (SHA-256, custody chain seq {event.seq}): {event_hash}")
        self.add(
            {
                "@id": node_id,
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": event.action,
                "uco-core:description": "\n".join(lines),
                "uco-core:tag": ["custody-event", f"outcome:{event.outcome}"],
                "uco-core:externalReference": {
                    "@id": self.iri("custody-event-reference", event.seq, event_hash),
                    "@type": "uco-core:ExternalReference",
                    "uco-core:definingContext": _CHAIN_CONTEXT,
                    "uco-core:externalIdentifier": f"seq={event.seq} event_hash={event_hash}",
                },
                "uco-action:actionStatus": _STATUS.get(event.outcome, "Unknown"),
                "uco-action:startTime": _datetime(event.at),
                "uco-action:performer": _ref(performer),
                "uco-action:object": _ref(target) if target else None,
            }
        )


# -- values


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


def _refs(node_ids: Iterable[str]) -> list[dict[str, str]]:
    return [_ref(node_id) for node_id in node_ids]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _append(items: list[Any], item: Any) -> None:
    if item not in items:
        items.append(item)


def _one_or_list(items: list[Any]) -> Any:
    """JSON-LD: one value as itself, several as a list, none as None (dropped by _compact)."""
    if not items:
        return None
    return items[0] if len(items) == 1 else list(items)


def _compact(node: dict[str, Any]) -> dict[str, Any]:
    """Drop the properties that have no value."""
    return {k: v for k, v in node.items() if v is not None and v != []}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha256(value: str) -> str:
    if not _SHA256.match(value):
        raise ValueError(f"not a SHA-256 hex digest: {value!r}")
    return value.lower()


def _size(value: int) -> int:
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"not a file size: {value!r}")
    return value


def _datetime(text: str) -> dict[str, str]:
    """An ``xsd:dateTime`` literal of the text as given (it is what the chain hashed)."""
    try:
        if not _DATETIME.match(text):
            raise ValueError
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date and time: {text!r}") from None
    return {"@type": "xsd:dateTime", "@value": text}


def _lat_long(text: str) -> tuple[str, str] | None:
    """``"40.712800, -74.006000"`` -> ("40.712800", "-74.006000"); None for anything else."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2:
        return None
    try:
        latitude, longitude = Decimal(parts[0]), Decimal(parts[1])
    except InvalidOperation:
        return None
    if not (latitude.is_finite() and longitude.is_finite()):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return format(latitude, "f"), format(longitude, "f")

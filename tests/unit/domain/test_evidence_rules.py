"""Rules on submitted file names, content/extension clashes and evidence metadata."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.evidence import (
    EDITABLE_FIELDS,
    EvidenceKind,
    MetadataLimits,
    Restriction,
    check_field,
    check_sha256,
    check_tags,
    format_evidence_id,
    kind_for_mime,
    parse_evidence_id,
)
from opendems.domain.files import MAX_FILENAME_CHARS, contradiction, extension_kind, validate_filename

LIMITS = MetadataLimits()

# -- file names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bodycam 2026-03-01.mp4",
        "Zeugenaussage_Müller.pdf",
        "証拠写真.jpg",
        "фото доказательства.png",
        "صورة.heic",
        "café ☕ notes.txt",
        "...hidden",
        "no-extension",
        "a" * MAX_FILENAME_CHARS,
        "é" * MAX_FILENAME_CHARS,
    ],
)
def test_valid_filenames_are_kept_as_given(name: str) -> None:
    assert validate_filename(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "\t",
        ".",
        "..",
        "../etc/passwd",
        "dir/file.mp4",
        "/abs.mp4",
        "dir\\file.mp4",
        "..\\..\\boot.ini",
        "a" * (MAX_FILENAME_CHARS + 1),
        "line\nbreak.txt",
        "carriage\rreturn.txt",
        "nul\x00byte.mp4",
        "bell\x07.mp4",
        "esc\x1b[31mred.mp4",
        "del\x7f.mp4",
        "c1\x9b31m.mp4",
        "invoice\u202egpj.exe",  # right-to-left override: shows as "invoiceexe.jpg"
        "zero\u200bwidth.mp4",
        "bom\ufeff.mp4",
        "line\u2028sep.mp4",
        "para\u2029sep.mp4",
    ],
)
def test_unsafe_filenames_are_invalid(name: str) -> None:
    with pytest.raises(Invalid):
        validate_filename(name)


@pytest.mark.parametrize(
    ("name", "detected", "claimed"),
    [
        ("clip.mp4", EvidenceKind.IMAGE, "video"),
        ("CLIP.MP4", EvidenceKind.IMAGE, "video"),
        ("photo.jpg", EvidenceKind.VIDEO, "image"),
        ("report.pdf", EvidenceKind.AUDIO, "document"),
        ("call.wav", EvidenceKind.DOCUMENT, "audio"),
        ("archive.tar.mov", EvidenceKind.IMAGE, "video"),
    ],
)
def test_contradiction_names_both_kinds(name: str, detected: EvidenceKind, claimed: str) -> None:
    message = contradiction(name, detected)
    assert message is not None
    assert name in message
    assert detected.value in message
    assert claimed in message


@pytest.mark.parametrize(
    ("name", "detected"),
    [
        ("notes.txt", EvidenceKind.DOCUMENT),  # .txt detected as a document agrees
        ("clip.mp4", EvidenceKind.VIDEO),
        ("photo.JPEG", EvidenceKind.IMAGE),
        ("data.xyz", EvidenceKind.VIDEO),  # unknown extension makes no claim
        ("README", EvidenceKind.IMAGE),  # nor does no extension
        ("clip.mp4", EvidenceKind.OTHER),  # an unidentified content type contradicts nothing
        ("photo.png", EvidenceKind.OTHER),
    ],
)
def test_no_contradiction(name: str, detected: EvidenceKind) -> None:
    assert contradiction(name, detected) is None


def test_extension_kind() -> None:
    assert extension_kind("a.MoV") is EvidenceKind.VIDEO
    assert extension_kind("a.flac") is EvidenceKind.AUDIO
    assert extension_kind("a.tiff") is EvidenceKind.IMAGE
    assert extension_kind("a.docx") is EvidenceKind.DOCUMENT
    assert extension_kind("a.exe") is None
    assert extension_kind("mp4") is None
    assert extension_kind("a.") is None


# -- metadata fields -------------------------------------------------------------------------


def test_title_is_trimmed_and_required() -> None:
    assert check_field("title", "  Traffic stop  ", LIMITS) == "Traffic stop"
    for bad in ["", "   ", None]:
        with pytest.raises(Invalid):
            check_field("title", bad, LIMITS)


def test_title_length_limit() -> None:
    limits = MetadataLimits(max_title_chars=10)
    assert check_field("title", "x" * 10, limits) == "x" * 10
    with pytest.raises(Invalid):
        check_field("title", "x" * 11, limits)
    with pytest.raises(Invalid):
        check_field("title", "x" * (LIMITS.max_title_chars + 1), LIMITS)


@pytest.mark.parametrize("field", ["title", "description", "captured_by", "device_serial", "category"])
def test_text_fields_refuse_control_characters_and_non_text(field: str) -> None:
    with pytest.raises(Invalid):
        check_field(field, "bad\x1b[2Jvalue", LIMITS)
    with pytest.raises(Invalid):
        check_field(field, 12, LIMITS)


def test_short_text_limits_and_empty_means_none() -> None:
    limits = MetadataLimits(max_short_text_chars=5)
    assert check_field("device_make", " Axon ", limits) == "Axon"
    assert check_field("device_make", "   ", limits) is None
    assert check_field("device_make", None, limits) is None
    with pytest.raises(Invalid):
        check_field("device_make", "123456", limits)
    assert check_field("description", "line one\nline two", LIMITS) == "line one\nline two"
    with pytest.raises(Invalid):
        check_field("description", "x" * (LIMITS.max_description_chars + 1), LIMITS)


def test_captured_at_must_be_timezone_aware() -> None:
    aware = datetime(2026, 3, 1, 14, 5, tzinfo=timezone(timedelta(hours=1)))
    assert check_field("captured_at", aware, LIMITS) == aware
    with pytest.raises(Invalid):
        check_field("captured_at", datetime(2026, 3, 1, 14, 5), LIMITS)
    with pytest.raises(Invalid):
        check_field("captured_at", "2026-03-01T14:05:00Z", LIMITS)
    assert check_field("captured_at", None, LIMITS) is None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("latitude", 90, 90.0),
        ("latitude", -90.0, -90.0),
        ("latitude", 51.5074, 51.5074),
        ("longitude", 180, 180.0),
        ("longitude", -180.0, -180.0),
        ("longitude", 0, 0.0),
    ],
)
def test_coordinates_in_range(field: str, value: float, expected: float) -> None:
    result = check_field(field, value, LIMITS)
    assert result == expected
    assert isinstance(result, float)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latitude", 90.0001),
        ("latitude", -91),
        ("longitude", 180.5),
        ("longitude", -181),
        ("latitude", float("nan")),
        ("latitude", float("inf")),
        ("longitude", float("-inf")),
        ("latitude", True),
        ("latitude", "51.5"),
        ("longitude", [1]),
    ],
)
def test_coordinates_invalid(field: str, value: Any) -> None:
    with pytest.raises(Invalid):
        check_field(field, value, LIMITS)


def test_custom_fields_size_limit_counts_utf8_bytes() -> None:
    limits = MetadataLimits(max_custom_fields_bytes=40)
    fits = {"k": "x" * (40 - len(json.dumps({"k": ""})))}
    assert len(json.dumps(fits).encode()) == 40
    assert check_field("custom_fields", fits, limits) == fits
    over = {"k": "x" * (41 - len(json.dumps({"k": ""})))}
    with pytest.raises(Invalid):
        check_field("custom_fields", over, limits)
    # Under the limit in characters, over it in UTF-8 bytes: the limit is in bytes.
    wide = {"k": "é" * 17}
    assert len(json.dumps(wide, ensure_ascii=False)) < 40 < len(json.dumps(wide, ensure_ascii=False).encode())
    with pytest.raises(Invalid):
        check_field("custom_fields", wide, limits)


def test_custom_fields_default_limit_and_type() -> None:
    big = {"blob": "x" * LIMITS.max_custom_fields_bytes}
    with pytest.raises(Invalid):
        check_field("custom_fields", big, LIMITS)
    nested = {"unit": "traffic", "shift": {"start": "06:00", "crew": [1, 2]}}
    assert check_field("custom_fields", nested, LIMITS) == nested
    for bad in ["{}", [("a", 1)], 3]:
        with pytest.raises(Invalid):
            check_field("custom_fields", bad, LIMITS)


def test_restriction_values() -> None:
    for r in Restriction:
        assert check_field("restriction", r.value, LIMITS) is r
        assert check_field("restriction", r, LIMITS) is r
    for bad in ["secret", "", "public", 1]:
        with pytest.raises(Invalid):
            check_field("restriction", bad, LIMITS)


@pytest.mark.parametrize("field", ["id", "created_by", "status", "kind", "tags", "original", "__class__", ""])
def test_unknown_or_protected_fields_are_refused(field: str) -> None:
    assert field not in EDITABLE_FIELDS
    with pytest.raises(Invalid):
        check_field(field, "x", LIMITS)


# -- tags ------------------------------------------------------------------------------------


def test_tags_are_trimmed_and_deduplicated_in_order() -> None:
    tags = [" traffic ", "dui", "traffic", "Unit 7", "dui", "case:2026/14", "unit#7", "körper-cam_2"]
    assert check_tags(tags, LIMITS) == ["traffic", "dui", "Unit 7", "case:2026/14", "unit#7", "körper-cam_2"]
    assert check_tags([], LIMITS) == []


def test_too_many_tags() -> None:
    limits = MetadataLimits(max_tags=3)
    assert check_tags(["a", "b", "c", "a", "b"], limits) == ["a", "b", "c"]  # duplicates do not count
    with pytest.raises(Invalid):
        check_tags(["a", "b", "c", "d"], limits)
    with pytest.raises(Invalid):
        check_tags([f"t{i}" for i in range(LIMITS.max_tags + 1)], LIMITS)


def test_tag_length() -> None:
    limits = MetadataLimits(max_tag_chars=5)
    assert check_tags(["abcde"], limits) == ["abcde"]
    with pytest.raises(Invalid):
        check_tags(["abcdef"], limits)


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "   ",
        "<script>",
        "a,b",
        "semi;colon",
        "-leading",
        "#start",
        "multi\nline",
        "tab\tinside",
        "q'uote",
        "esc\x1b",
    ],
)
def test_bad_tags(tag: str) -> None:
    with pytest.raises(Invalid):
        check_tags(["fine", tag], LIMITS)


# -- ids, digests, kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("EV-2026-000123", "EV-2026-000123"),
        ("  ev-2026-000123\n", "EV-2026-000123"),
        ("Ev-1999-1234567", "EV-1999-1234567"),
    ],
)
def test_parse_evidence_id(raw: str, canonical: str) -> None:
    assert parse_evidence_id(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "EV-2026-12345",
        "EV-26-000123",
        "EV2026000123",
        "XX-2026-000123",
        "EV-2026-000123-1",
        "EV-2026-00012a",
        "EV-2026-000123/../x",
        "EV-2026-000\n123",
    ],
)
def test_parse_evidence_id_invalid(raw: str) -> None:
    with pytest.raises(Invalid):
        parse_evidence_id(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "EV-\uff12\uff10\uff12\uff16-\uff10\uff10\uff10\uff11\uff12\uff13",  # full-width digits
        "EV-\u0662\u0660\u0662\u0666-\u0660\u0660\u0660\u0661\u0662\u0663",  # Arabic-Indic digits
    ],
)
def test_parse_evidence_id_refuses_non_ascii_digits(raw: str) -> None:
    """Ids are made by format_evidence_id in ASCII; a look-alike is not a canonical id."""
    with pytest.raises(Invalid):
        parse_evidence_id(raw)


def test_format_and_parse_round_trip() -> None:
    for year, number in [(2026, 1), (2026, 999_999), (2030, 1_234_567)]:
        formatted = format_evidence_id(year, number)
        assert parse_evidence_id(formatted.lower()) == formatted
    assert format_evidence_id(2026, 7) == "EV-2026-000007"


def test_check_sha256() -> None:
    digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
    assert check_sha256(f" {digest} ") == digest.lower()
    for bad in ["", digest[:-1], digest + "0", digest[:-1] + "g", "sha256:" + digest[7:]]:
        with pytest.raises(Invalid):
            check_sha256(bad)


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("video/mp4", EvidenceKind.VIDEO),
        ("video/quicktime", EvidenceKind.VIDEO),
        ("audio/x-wav", EvidenceKind.AUDIO),
        ("image/png", EvidenceKind.IMAGE),
        ("application/pdf", EvidenceKind.DOCUMENT),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", EvidenceKind.DOCUMENT),
        ("text/plain", EvidenceKind.DOCUMENT),
        ("text/csv", EvidenceKind.DOCUMENT),
        ("application/octet-stream", EvidenceKind.OTHER),
        ("application/zip", EvidenceKind.OTHER),
        ("application/x-msdownload", EvidenceKind.OTHER),
        ("model/gltf+json", EvidenceKind.OTHER),
    ],
)
def test_kind_for_mime(mime: str, kind: EvidenceKind) -> None:
    assert kind_for_mime(mime) is kind


def test_captured_at_keeps_its_zone() -> None:
    value = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert check_field("captured_at", value, LIMITS).tzinfo is not None

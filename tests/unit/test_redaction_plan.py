"""The redaction plan as domain data: what each frame covers, drawn keyframes, fail-secure,
and plans that come in as JSON (bad ones refused with a clear message); a PDF's plan, a page
per frame, and the patterns that find personal data in its text."""

from __future__ import annotations

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.redaction import (
    PII_PATTERNS,
    AudioSegment,
    Effect,
    FailSecure,
    PlanTrack,
    RedactionPlan,
    TextMatch,
    TextScan,
    check_document_plan,
    plan_for_document,
    plan_from_tracks,
    term_patterns,
)
from opendems.domain.tracking import Detection, Track, TrackPoint, follow_out_of_frame, track


def plan(**changes: object) -> RedactionPlan:
    return RedactionPlan(width=640, height=360, fps=30, frame_count=100, padding=0.0).with_changes(**changes)


def test_a_drawn_track_is_interpolated_between_its_keyframes_only() -> None:
    t = PlanTrack("m1", "manual", keyframes={10: (0, 0, 10, 10), 20: (100, 100, 110, 110)})
    assert t.box_at(9) is None and t.box_at(21) is None
    assert t.box_at(10) == (0, 0, 10, 10)
    assert t.box_at(15) == (50, 50, 60, 60)
    assert t.first_frame == 10 and t.last_frame == 20


def test_regions_honour_include_effect_padding_and_the_frame() -> None:
    p = plan(
        padding=0.5,
        effect=Effect.PIXELATE,
        tracks=(
            PlanTrack("a", "face", boxes={3: (600, 10, 640, 50)}, effect=Effect.BOX),
            PlanTrack("b", "face", include=False, boxes={3: (100, 100, 150, 150)}),
            PlanTrack("c", "manual", keyframes={0: (200, 200, 220, 220), 5: (200, 200, 220, 220)}),
        ),
    )
    regions = p.regions_at(3)
    assert [e for _, e in regions] == [Effect.BOX, Effect.PIXELATE]  # b is excluded
    assert regions[0][0] == (590.0, 0.0, 640.0, 60.0)  # padded, clamped to the frame
    assert regions[1][0] == (195.0, 195.0, 225.0, 225.0)
    assert p.regions_at(6) == []


def test_fail_secure_covers_its_frames_whole_unless_switched_off() -> None:
    p = plan(fail_secure=FailSecure(frames=frozenset({7})))
    assert p.regions_at(7) == [((0.0, 0.0, 640.0, 360.0), Effect.BLUR)]
    assert plan(fail_secure=FailSecure(enabled=False, frames=frozenset({7}))).regions_at(7) == []


def test_uncertain_candidates_a_track_covers_are_not_fail_secure_frames() -> None:
    t = Track(1, {f: TrackPoint((10, 10, 50, 50), 0.9, "detected") for f in range(5)})
    p = plan_from_tracks(
        [t],
        width=640,
        height=360,
        fps=30,
        frame_count=10,
        uncertain={2: [(20, 20, 40, 40)], 3: [(300, 300, 320, 320)], 8: [(20, 20, 40, 40)]},
    )
    assert p.fail_secure.frames == frozenset({3, 8})
    assert [t.id for t in p.tracks] == ["face-1"] and p.tracks[0].reason == "unreviewed"


def test_a_plan_round_trips_through_json_and_bad_plans_are_refused() -> None:
    p = plan(
        tracks=(PlanTrack("m", "manual", reason="juvenile", keyframes={0: (1, 2, 3, 4)}),),
        audio=(AudioSegment(1.5, 2.0, "bleep", "pii"),),
    )
    again = RedactionPlan.from_dict(p.to_dict())
    assert again.to_dict() == p.to_dict()
    good = p.to_dict()
    for change, message in [
        ({"width": 0}, "positive"),
        ({"effect": "smudge"}, "blur, pixelate or box"),
        ({"tracks": [{"id": "x", "kind": "face"}]}, "boxes or keyframes"),
        ({"tracks": [{"id": "x", "kind": "face", "boxes": {"1": [5, 5, 1, 1]}}]}, "x1 < x2"),
        ({"tracks": [{"id": "x", "kind": "face", "boxes": {"-1": [1, 1, 5, 5]}}]}, "whole number"),
        ({"tracks": [{"id": "x", "kind": "alien", "boxes": {"1": [1, 1, 5, 5]}}]}, "kind must be"),
        (
            {"tracks": [{"id": "x", "kind": "face", "reason": "because", "boxes": {"1": [1, 1, 5, 5]}}]},
            "reason",
        ),
        ({"tracks": [good["tracks"][0], good["tracks"][0]]}, "same id"),
        ({"audio": [{"start_s": 3, "end_s": 1}]}, "start_s < end_s"),
        ({"audio": [{"start_s": 0, "end_s": 1, "mode": "scream"}]}, "mute or bleep"),
        ({"fail_secure": {"threshold": 0.1, "floor": 0.5}}, "floor <= threshold"),
    ]:
        with pytest.raises(Invalid, match=message):
            RedactionPlan.from_dict({**good, **change})
    with pytest.raises(Invalid):
        RedactionPlan.from_dict("not a plan")


def test_a_face_walking_out_of_the_picture_is_followed_until_it_has_left() -> None:
    # Detected every frame while whole; the detector loses it at frame 20 (half of it out).
    dets = [[Detection(500 + 5 * f, 100, 580 + 5 * f, 200, 0.9)] if f < 20 else [] for f in range(60)]
    (t,) = track(dets, frame_size=(640, 360))
    (followed,) = follow_out_of_frame([t], (640, 360), 60, max_frames=60)
    assert t.last_frame == 19
    for f in range(20, 28):  # the face shows (partly) until frame 27
        box = followed.box_at(f)
        visible = (500 + 5 * f, 100, 640, 200)
        assert box is not None and box[0] <= visible[0] and box[2] == 640, (f, box)
        assert box[1] <= 100 and box[3] >= 200
    assert max(followed.points) < 60 and all(
        p.source == "extended" for f, p in followed.points.items() if f >= 20
    )
    # A track that ends in the middle of the picture is left alone.
    middle = [[Detection(200, 100, 280, 200, 0.9)] if f < 20 else [] for f in range(60)]
    (m,) = track(middle, frame_size=(640, 360))
    assert follow_out_of_frame([m], (640, 360), 60, max_frames=60)[0].last_frame == m.last_frame


# -- PDF documents ------------------------------------------------------------------------------

LETTER, LANDSCAPE = (612.0, 792.0), (792.0, 612.0)


def pdf_plan(
    *tracks: PlanTrack, pages: tuple[tuple[float, float], ...] = (LETTER, LANDSCAPE)
) -> RedactionPlan:
    scan = TextScan(pages=pages, text_pages=len(pages), matches=(), tool="pypdfium2 test")
    return plan_for_document(scan).with_changes(tracks=tracks)


def test_a_pdf_plan_has_a_page_per_frame_and_a_text_track_per_match() -> None:
    scan = TextScan(
        pages=(LETTER, (595.28, 841.89)),
        text_pages=2,
        matches=(
            TextMatch(0, "ssn", 11, (197.93, 83.56, 264.25, 92.22)),
            TextMatch(1, "email", 20, (10.0, 10.0, 50.0, 20.0)),
        ),
        tool="pypdfium2 test",
    )
    p = plan_for_document(scan)
    assert (p.width, p.height, p.fps, p.frame_count) == (612, 842, 1.0, 2)  # the largest page, rounded up
    assert (p.effect, p.padding, p.fail_secure.enabled) == (Effect.BOX, 0.0, False)
    assert p.pages == (LETTER, (595.28, 841.89))
    assert p.detections["found"] == {"ssn": 1, "email": 1} and p.detections["tool"] == "pypdfium2 test"
    ssn, email = p.to_dict()["tracks"]
    # Kept to a tenth of a point, rounded outwards: never smaller than what was matched.
    assert ssn == {
        "id": "text-1",
        "kind": "text",
        "include": True,
        "reason": "pii",
        "label": "ssn",
        "boxes": {"0": [197.9, 83.5, 264.3, 92.3]},
    }
    assert email["boxes"] == {"1": [10.0, 10.0, 50.0, 20.0]}
    assert RedactionPlan.from_dict(p.to_dict()).to_dict() == p.to_dict()
    check_document_plan(RedactionPlan.from_dict(p.to_dict()))
    with pytest.raises(Invalid, match="label must be one of"):
        PlanTrack.from_dict({**ssn, "label": "Jane Doe"})  # a label is a kind of data, never the data


def test_a_pdf_plan_covers_each_page_with_its_own_boxes_cut_at_its_edge() -> None:
    p = pdf_plan(
        PlanTrack("a", "text", boxes={0: (10, 10, 50, 20), 1: (700, 500, 792, 612)}),
        PlanTrack("b", "text", include=False, boxes={0: (100, 100, 150, 120)}),
        PlanTrack("c", "manual", boxes={1: (0, 0, 20, 20)}, reason="pii"),
    )
    assert p.page_regions() == {0: [(10, 10, 50, 20)], 1: [(700, 500, 792, 612), (0, 0, 20, 20)]}
    grown = p.with_changes(padding=0.5).page_regions()
    assert grown[1][0] == (677.0, 472.0, 792.0, 612.0)  # padded, then cut at the landscape page's edge
    assert grown[0][0] == (0.0, 7.5, 60.0, 22.5)
    whole = p.with_changes(fail_secure=FailSecure(enabled=True, frames=frozenset({0}))).page_regions()
    assert whole[0] == [(0.0, 0.0, 612.0, 792.0)]  # the page's own size, not the plan's
    with pytest.raises(Invalid, match="lists no pages"):
        plan().page_regions()


def test_a_pdf_plan_refuses_boxes_off_their_page_and_pages_it_does_not_have() -> None:
    check_document_plan(pdf_plan(PlanTrack("m", "manual", boxes={1: (0, 0, 792.4, 612.4)})))  # within 0.5
    for bad, message in [
        (
            PlanTrack("m", "manual", boxes={0: (500, 700, 640, 720)}),
            r"track m: its box \[500, 700, 640, 720\] lies outside page 1 \(index 0\), which is 612 x 792 points",
        ),
        (
            PlanTrack("m", "manual", boxes={0: (10, 780, 20, 800)}),
            "outside page 1",
        ),
        (
            PlanTrack("t", "text", boxes={2: (1, 1, 5, 5)}),
            r"track t: there is no page 3 \(index 2\): the PDF has 2 page\(s\), indexed 0 to 1",
        ),
        (PlanTrack("m", "manual", keyframes={0: (1, 1, 5, 5)}), "not keyframes"),
        (PlanTrack("m", "manual", effect=Effect.BLUR, boxes={0: (1, 1, 5, 5)}), "solid black boxes"),
    ]:
        with pytest.raises(Invalid, match=message):
            check_document_plan(pdf_plan(bad))
    with pytest.raises(Invalid, match="effect must be box"):
        check_document_plan(pdf_plan().with_changes(effect=Effect.PIXELATE))
    with pytest.raises(Invalid, match="no sound"):
        check_document_plan(pdf_plan().with_changes(audio=(AudioSegment(0, 1),)))
    with pytest.raises(Invalid, match="does not list the PDF's pages"):
        check_document_plan(pdf_plan().with_changes(frame_count=3))
    with pytest.raises(Invalid, match="does not list the PDF's pages"):
        check_document_plan(plan())


def found(text: str) -> list[tuple[str, str]]:
    out = []
    for label, pattern in PII_PATTERNS:
        for m in pattern.finditer(text):
            out.append((label, m.group("pii") if "pii" in pattern.groupindex else m.group()))
    return out


def test_personal_data_is_found_by_its_shape_and_dates_only_where_labelled_as_births() -> None:
    assert found("SSN 123-45-6789, 123 45 6789 and SSN: 987654321") == [
        ("ssn", "123-45-6789"),
        ("ssn", "123 45 6789"),
        ("ssn", "987654321"),
    ]
    assert (
        found("not numbers that can be issued: 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000")
        == []
    )
    assert found("ref 123-45-67890 and 1123-45-6789 and 123-45-6789x") == []
    assert found("(555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567, 1-800-555-0199") == [
        ("phone", "(555) 123-4567"),
        ("phone", "555-123-4567"),
        ("phone", "555.123.4567"),
        ("phone", "+1 555 123 4567"),
        ("phone", "1-800-555-0199"),
    ]
    assert found("mail jane.doe+case@mail.example.org, not jane@localhost") == [
        ("email", "jane.doe+case@mail.example.org")
    ]
    assert found("DOB: 04/12/1980, Date of birth 1980-04-12, born March 3, 1975, d.o.b. 3 Mar 1975") == [
        ("dob", "04/12/1980"),
        ("dob", "1980-04-12"),
        ("dob", "March 3, 1975"),
        ("dob", "3 Mar 1975"),
    ]
    assert found("Incident on 04/12/2023 at 10:15") == []
    assert found("phone 555-123-\r\n4567") == []  # a match never runs over a line break


def test_terms_match_whole_words_across_line_breaks_and_are_checked() -> None:
    ((label, pattern),) = term_patterns(["  Jane   Doe "])
    assert label == "term-1"
    assert [m.group() for m in pattern.finditer("JANE DOE, Jane\r\nDoe, Jane Doehler, MaryJane Doe")] == [
        "JANE DOE",
        "Jane\r\nDoe",
    ]
    ((_, exact),) = term_patterns(["Doe"], match_case=True, whole_words=False)
    assert [m.group() for m in exact.finditer("Doe DOE Doehler")] == ["Doe", "Doe"]
    ((_, dotted),) = term_patterns(["j.d."])
    assert [m.group() for m in dotted.finditer("j.d. jxdx")] == ["j.d."]
    assert [label for label, _ in term_patterns(["ab", "cd"])] == ["term-1", "term-2"]
    for terms, message in [
        ([], "1 to 50 terms"),
        ("Jane", "1 to 50 terms"),
        (["x"], "term 1: .* 2 to 200 characters"),
        (["ok", "y" * 201], "term 2"),
        (["ab"] * 51, "at most 50"),
    ]:
        with pytest.raises(Invalid, match=message):
            term_patterns(terms)  # type: ignore[arg-type]

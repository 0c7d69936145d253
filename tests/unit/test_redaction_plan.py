"""The redaction plan as domain data: what each frame covers, drawn keyframes, fail-secure,
and plans that come in as JSON (bad ones refused with a clear message)."""

from __future__ import annotations

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.redaction import (
    AudioSegment,
    Effect,
    FailSecure,
    PlanTrack,
    RedactionPlan,
    plan_from_tracks,
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

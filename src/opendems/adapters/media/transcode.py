"""Derivatives made with PyAV and Pillow: browser-playable proxies, posters, previews.

Every function reads the original through a seekable file and returns the bytes or writes
a file it is given; none touches the original. The parameters that shaped a derivative are
returned with it, to be recorded as its provenance.
"""

from __future__ import annotations

import io
import math
import re
from array import array
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import PIL
from PIL import Image, ImageOps

from opendems.adapters.media.documents import TOOL_PDFIUM, pdf_pages
from opendems.domain.jobs import NoPicture, PermanentFailure
from opendems.domain.redaction import RedactionPlan, TextScan
from opendems.domain.tracking import Box
from opendems.domain.transcripts import Transcript
from opendems.ports import ProxyResult

PROXY_MAX_HEIGHT = 720
PROXY_CRF = 23
PROXY_PRESET = "veryfast"
KEYFRAME_SECONDS = 2
AUDIO_BITRATE = 96_000
POSTER_MAX = 640
PREVIEW_MAX = 1600
THUMB_MAX = 320
NO_PICTURE_TYPE = av.video.frame.PictureType.NONE
TOOL_AV = f"PyAV {av.__version__} / FFmpeg {av.ffmpeg_version_info}"
TOOL_PIL = f"Pillow {PIL.__version__}"


def _even(n: float) -> int:
    return max(2, round(n / 2) * 2)


PEAKS_PER_SECOND = 10
SPRITE_TILES = 100  # at most this many tiles in a timeline sprite sheet
SPRITE_COLUMNS = 10
SPRITE_TILE_WIDTH = 160


class Peaks:
    """Audio waveform peaks: the loudest sample of every tenth of a second, 0-1000. Fed the
    planar-float frames the proxy's resampler already made (one decode, one resample)."""

    def __init__(self) -> None:
        self.pending = array("f")
        self.window = 0
        self.values: list[int] = []

    def add(self, frame: Any) -> None:
        if not self.window:
            self.window = max(1, int(frame.sample_rate) // PEAKS_PER_SECOND)
        self.pending.frombytes(bytes(frame.planes[0])[: frame.samples * 4])  # the first channel
        self._drain(final=False)

    def _peak(self, chunk: array[float]) -> int:
        return min(1000, int(max(max(chunk), -min(chunk)) * 1000))

    def _drain(self, *, final: bool) -> None:
        w = self.window or 1
        whole = len(self.pending) // w * w
        for start in range(0, whole, w):
            self.values.append(self._peak(self.pending[start : start + w]))
        rest = self.pending[whole:]
        if final and len(rest):
            self.values.append(self._peak(rest))
            rest = array("f")
        self.pending = rest

    def result(self) -> dict[str, Any]:
        self._drain(final=True)
        return {"per_second": PEAKS_PER_SECOND, "scale": 1000, "peaks": self.values}


class Sprite:
    """A timeline sprite sheet: one small frame every ``interval`` seconds, in a grid."""

    def __init__(self, duration: float | None) -> None:
        self.interval = max(1, math.ceil((duration or 0) / SPRITE_TILES)) if duration else 1
        self.tiles: list[Image.Image] = []
        self.next_at = 0.0

    def add(self, frame: Any, rotation: int) -> None:
        t = float(frame.time or 0)
        if t + 1e-6 < self.next_at or len(self.tiles) >= SPRITE_TILES:
            return
        self.next_at = t + self.interval
        width = SPRITE_TILE_WIDTH
        upright = rotation in (90, -90, 270, -270)
        w, h = (frame.height, frame.width) if upright else (frame.width, frame.height)
        height = max(2, round(width * h / w))
        small = frame.reformat(
            width=height if upright else width, height=width if upright else height
        ).to_image()
        self.tiles.append(small.rotate(rotation, expand=True) if rotation else small)

    def result(self) -> tuple[bytes, dict[str, Any]] | None:
        if not self.tiles:
            return None
        tw, th = self.tiles[0].size
        rows = math.ceil(len(self.tiles) / SPRITE_COLUMNS)
        sheet = Image.new("RGB", (tw * min(SPRITE_COLUMNS, len(self.tiles)), th * rows))
        for n, tile in enumerate(self.tiles):
            sheet.paste(tile.resize((tw, th)), ((n % SPRITE_COLUMNS) * tw, (n // SPRITE_COLUMNS) * th))
        buf = io.BytesIO()
        sheet.save(buf, format="JPEG", quality=75)
        params = {
            "interval_s": self.interval,
            "columns": SPRITE_COLUMNS,
            "tile_width": tw,
            "tile_height": th,
            "tiles": len(self.tiles),
        }
        return buf.getvalue(), params


def _scaled(width: int, height: int, max_short_side: int) -> tuple[int, int]:
    """At most ``max_short_side`` on the shorter side (720p, landscape or portrait)."""
    short = min(width, height)
    if short <= max_short_side:
        return _even(width), _even(height)
    factor = max_short_side / short
    return _even(width * factor), _even(height * factor)


def aac_output(out: Any, ain: Any, params: dict[str, Any]) -> tuple[Any, Any]:
    """An AAC stream in ``out`` for the sound of ``ain`` (mono or stereo, 48 or 24 kHz) and
    the resampler that feeds it; (None, None) without sound. Notes the codec in ``params``."""
    if ain is None:
        return None, None
    layout = "stereo" if (ain.codec_context.layout.nb_channels or 1) > 1 else "mono"
    rate = 48000 if (ain.sample_rate or 0) > 24000 else 24000
    aout = out.add_stream("aac", rate=rate)
    aout.bit_rate = AUDIO_BITRATE
    aout.layout = layout
    params.update(audio_codec="aac", audio_bitrate=AUDIO_BITRATE)
    return aout, av.AudioResampler(format="fltp", layout=layout, rate=rate)


def video_proxy(src: BinaryIO, dst: Path, *, report: Callable[[float], None] = lambda f: None) -> ProxyResult:
    """An H.264/AAC MP4 for any browser: at most 720p, a keyframe every 2 s, the index at
    the front (faststart). A phone's rotation is carried as display rotation, which every
    browser applies. On the same pass: an upright poster, a sprite sheet and waveform peaks."""
    try:
        inp = av.open(src, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable video ({exc.strerror or exc})") from None
    with inp:
        if not inp.streams.video:
            raise NoPicture("the file holds no video stream")
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vin.thread_type = "AUTO"
        duration = inp.duration / 1_000_000 if inp.duration else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        gop = str(max(1, round(float(rate) * KEYFRAME_SECONDS)))
        params: dict[str, Any] = {
            "container": "mp4",
            "video_codec": "h264",
            "crf": PROXY_CRF,
            "preset": PROXY_PRESET,
            "max_short_side": PROXY_MAX_HEIGHT,
            "keyframe_seconds": KEYFRAME_SECONDS,
            "faststart": True,
        }
        poster: bytes | None = None
        peaks = Peaks() if ain is not None else None
        sprite = Sprite(duration)
        last_time = 0.0
        rotation = _first_rotation(inp, vin)
        width, height = _scaled(vin.width, vin.height, PROXY_MAX_HEIGHT)
        with av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            # Every stream exists before the first packet is written.
            vout: Any = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.codec_context.time_base = (
                vin.time_base
            )  # keep every frame's own time (phones: variable rate)
            vout.codec_context.gop_size = int(gop)
            vout.codec_context.options = {
                "crf": str(PROXY_CRF),
                "preset": PROXY_PRESET,
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",  # a keyframe every 2 s, exactly
            }
            if rotation:
                vout.set_display_rotation(rotation)
            params.update(width=width, height=height, display_rotation=rotation)
            encoded = False
            aout, resampler = aac_output(out, ain, params)
            streams = [s for s in (vin, ain) if s is not None]
            try:
                demuxed: Any = inp.demux(*streams)  # PyAV's frame types are a union; these are known
                for packet in demuxed:
                    if packet.stream is vin:
                        for frame in packet.decode():
                            encoded = True
                            if poster is None and (frame.time or 0) >= min(1.0, (duration or 0) / 2):
                                poster = _poster(frame)
                            sprite.add(frame, rotation)
                            scaled = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                            scaled.pts = frame.pts
                            scaled.time_base = frame.time_base
                            scaled.pict_type = NO_PICTURE_TYPE  # the source's I-frames do not force ours
                            for p in vout.encode(scaled):
                                out.mux(p)
                            last_time = float(frame.time or last_time)
                            # Also a heartbeat: called even when the length is unknown (a
                            # live recording's file), so the job's lease stays renewed.
                            report(min(last_time / duration, 0.99) if duration else 0.0)
                    elif aout is not None:
                        for aframe in packet.decode():
                            aframe.pts = None
                            for converted in resampler.resample(aframe):
                                if peaks is not None:
                                    peaks.add(converted)
                                for p in aout.encode(converted):
                                    out.mux(p)
            except av.error.FFmpegError as exc:
                if not encoded:
                    raise PermanentFailure(f"the video does not decode ({exc.strerror or exc})") from None
                params["truncated_at_s"] = round(last_time, 3)  # a damaged tail: keep what plays
            if not encoded:
                raise PermanentFailure("the video stream holds no decodable frame")
            for p in vout.encode():
                out.mux(p)
            if aout is not None:
                for converted in resampler.resample(None):
                    for p in aout.encode(converted):
                        out.mux(p)
                for p in aout.encode():
                    out.mux(p)
    return ProxyResult(
        params,
        poster or _first_frame_poster(dst),
        peaks.result() if peaks is not None else None,
        sprite.result(),
    )


def _first_rotation(inp: Any, vin: Any) -> int:
    """The display rotation, read off the first decoded frame; then back to the start."""
    try:
        for frame in inp.decode(vin):
            rotation = int(getattr(frame, "rotation", 0) or 0)
            break
        else:
            raise PermanentFailure("the video stream holds no decodable frame")
        inp.seek(0)
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"the video does not decode ({exc.strerror or exc})") from None
    return rotation


def _poster(frame: Any) -> bytes:
    image = frame.to_image()
    rotation = int(getattr(frame, "rotation", 0) or 0)
    if rotation:
        image = image.rotate(rotation, expand=True)
    return _jpeg(image, POSTER_MAX)


def _first_frame_poster(path: Path) -> bytes | None:
    with av.open(str(path)) as c:
        frames: Any = c.decode(video=0)
        for frame in frames:
            return _poster(frame)
    return None


def audio_proxy(src: BinaryIO, dst: Path, *, report: Callable[[float], None] = lambda f: None) -> ProxyResult:
    """An AAC audio file (M4A, faststart) every browser plays."""
    try:
        inp = av.open(src, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable audio file ({exc.strerror or exc})") from None
    with inp:
        if not inp.streams.audio:
            raise PermanentFailure("the file holds no audio stream")
        ain = inp.streams.audio[0]
        duration = inp.duration / 1_000_000 if inp.duration else None
        rate = 48000 if (ain.sample_rate or 0) > 24000 else max(8000, ain.sample_rate or 8000)
        layout = "stereo" if (ain.codec_context.layout.nb_channels or 1) > 1 else "mono"
        with av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            aout = out.add_stream("aac", rate=rate)
            aout.bit_rate = AUDIO_BITRATE
            aout.layout = layout
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            peaks = Peaks()
            try:
                decoded: Any = inp.decode(ain)
                for frame in decoded:
                    report(min(float(frame.time or 0) / duration, 0.99) if duration else 0.0)
                    frame.pts = None
                    for converted in resampler.resample(frame):
                        peaks.add(converted)
                        for p in aout.encode(converted):
                            out.mux(p)
            except av.error.FFmpegError as exc:
                raise PermanentFailure(f"the audio does not decode ({exc.strerror or exc})") from None
            for converted in resampler.resample(None):
                for p in aout.encode(converted):
                    out.mux(p)
            for p in aout.encode():
                out.mux(p)
    params = {
        "container": "m4a",
        "audio_codec": "aac",
        "audio_bitrate": AUDIO_BITRATE,
        "sample_rate": rate,
        "faststart": True,
    }
    return ProxyResult(params, peaks=peaks.result())


def _jpeg(image: Image.Image, max_side: int, quality: int = 85) -> bytes:
    copy = image.convert("RGB")
    copy.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    copy.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def image_previews(src: BinaryIO) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """A web-size preview and a thumbnail, EXIF orientation applied, metadata stripped."""
    try:
        with Image.open(src) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as exc:
        raise PermanentFailure(f"the image is too large to preview safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PermanentFailure(f"the image does not decode ({exc})") from None
    return {
        "preview": (
            _jpeg(upright, PREVIEW_MAX),
            {"format": "jpeg", "max_side": PREVIEW_MAX, "exif_orientation_applied": True},
        ),
        "thumbnail": (
            _jpeg(upright, THUMB_MAX),
            {"format": "jpeg", "max_side": THUMB_MAX, "exif_orientation_applied": True},
        ),
    }


class MediaTools:
    """The ``MediaTools`` port."""

    tool_av = TOOL_AV
    tool_images = TOOL_PIL
    tool_pdf = TOOL_PDFIUM

    def pdf_pages(self, src: BinaryIO) -> list[tuple[bytes, dict[str, Any]]]:
        from opendems.adapters.media.pdf import PDFIUM_LOCK

        with PDFIUM_LOCK:  # PDFium is not thread-safe: the editor's page images may be drawing
            return pdf_pages(src)

    def video_proxy(self, src: BinaryIO, dst: Path, report: Callable[[float], None]) -> ProxyResult:
        return video_proxy(src, dst, report=report)

    def audio_proxy(self, src: BinaryIO, dst: Path, report: Callable[[float], None]) -> ProxyResult:
        return audio_proxy(src, dst, report=report)

    def image_previews(self, src: BinaryIO) -> dict[str, tuple[bytes, dict[str, Any]]]:
        return image_previews(src)

    # Redaction lives in its own module, imported on first use: it loads the face model.
    def find_faces(
        self, src: BinaryIO, *, image: bool, report: Callable[[float], None], **detections: Any
    ) -> RedactionPlan:
        from opendems.adapters.media import redact

        return redact.find_faces(src, image=image, report=report, **detections)

    def redact_video(
        self, src: BinaryIO, dst: Path, plan: RedactionPlan, report: Callable[[float], None]
    ) -> dict[str, Any]:
        from opendems.adapters.media import redact

        return redact.render(src, dst, plan, report=report)

    def redact_image(self, src: BinaryIO, plan: RedactionPlan) -> tuple[bytes, dict[str, Any]]:
        from opendems.adapters.media import redact

        return redact.render_image(src, plan)

    # PDF redaction: its own package too (it takes PDFium's lock around every call).
    def find_pdf_text(self, src: BinaryIO, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> TextScan:
        from opendems.adapters.media import pdf
        from opendems.domain.redaction import TextMatch, TextScan

        found = pdf.find_text(src, patterns)
        return TextScan(
            pages=tuple(found.pages),
            text_pages=found.text_pages,
            matches=tuple(TextMatch(*match) for match in found.matches),
            tool=pdf.TOOL_PDFIUM,
        )

    def redact_pdf(
        self, src: BinaryIO, dst: Path, regions: dict[int, list[Box]], report: Callable[[float], None]
    ) -> dict[str, Any]:
        from opendems.adapters.media import pdf

        return pdf.redact_pdf(src, dst, regions, report=report)

    def watermark_video(
        self, src: BinaryIO, dst: Path, lines: list[str], report: Callable[[float], None]
    ) -> dict[str, Any]:
        from opendems.adapters.media.watermark import watermark_video

        return watermark_video(src, dst, lines, report)

    # Speech: its own package, imported on first use (it loads the Whisper model).
    def transcribe(self, src: BinaryIO, model: str, report: Callable[[float], None]) -> Transcript:
        from opendems.adapters.speech.whisper import transcriber

        return transcriber(model).transcribe(src, report)

    def watermark_image(self, src: BinaryIO, lines: list[str]) -> tuple[bytes, str, dict[str, Any]]:
        from opendems.adapters.media.watermark import watermark_image

        data, params = watermark_image(src, lines)
        return data, "image/png" if params.get("format") == "png" else "image/jpeg", params

    def pdf_page_image(self, src: BinaryIO, page: int, width: int) -> tuple[bytes, dict[str, Any]] | None:
        from opendems.adapters.media import pdf

        return pdf.page_image(src, page, width)

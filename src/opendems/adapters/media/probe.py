"""What an original holds: container, streams, duration, size, rotation, capture time, place
and device -- read with PyAV (FFmpeg, bundled in its wheel) for audio and video and Pillow
for photos. Reads through a seekable file, so an encrypted original is decrypted only where
the reader looks (headers, the index, one frame)."""

from __future__ import annotations

import re
import warnings as warnings_module
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, BinaryIO

import av
from PIL import ExifTags, Image, UnidentifiedImageError

from opendems.domain.jobs import PermanentFailure

MAX_FRAME_PROBE_PACKETS = 500
# ISO 6709 as QuickTime and Android write it: +37.7749-122.4194+012.000/
ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
LOCATION_TAGS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
MAKE_TAGS = ("com.apple.quicktime.make", "make", "com.android.manufacturer")
MODEL_TAGS = ("com.apple.quicktime.model", "model", "com.android.model")
SERIAL_TAGS = ("com.apple.quicktime.camera.identifier", "serial", "serial_number", "device_serial")


def _first(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = tags.get(name)
        if value and value.strip():
            return value.strip()[:200]
    return None


def _time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year < 1990:  # cameras with an unset clock write 1970 or 1904
        return None
    return moment.astimezone(UTC).isoformat()


def _location(value: str | None) -> tuple[float, float] | None:
    if not value:
        return None
    match = ISO6709.match(value.strip())
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0.0, 0.0):
        return None
    return lat, lon


def _codec_name(stream: Any) -> str | None:
    """The format's name (``mp3``), not the decoder's (``mp3float``)."""
    ctx = stream.codec_context
    if ctx is None:
        return None
    return str(getattr(ctx.codec, "canonical_name", None) or ctx.name)


def _rate(value: Fraction | None) -> float | None:
    return round(float(value), 3) if value else None


def probe_av(f: BinaryIO) -> dict[str, Any]:
    """Audio and video. ``PermanentFailure`` names what is wrong with a file that cannot be read."""
    try:
        container = av.open(f, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable audio or video file ({exc.strerror or exc})") from None
    with container:
        tags = {k.lower() if not k.startswith("com.") else k: v for k, v in container.metadata.items()}
        streams: list[dict[str, Any]] = []
        for s in container.streams:
            entry: dict[str, Any] = {
                "index": s.index,
                "type": s.type,
                "codec": _codec_name(s),
            }
            if isinstance(s, av.VideoStream):
                entry.update(
                    width=s.width, height=s.height, frame_rate=_rate(s.average_rate), frames=s.frames or None
                )
            elif isinstance(s, av.AudioStream):
                entry.update(sample_rate=s.sample_rate, channels=s.codec_context.layout.nb_channels)
            streams.append(entry)
            for key, value in s.metadata.items():
                tags.setdefault(key.lower(), value)
        videos = [s for s in streams if s["type"] == "video"]
        audios = [s for s in streams if s["type"] == "audio"]
        if not videos and not audios:
            raise PermanentFailure("the file holds no audio or video stream")
        duration = container.duration / 1_000_000 if container.duration else None
        rotation = 0
        if videos:
            rotation = _first_frame_rotation(container)
        info: dict[str, Any] = {
            "container": container.format.name,
            "duration_s": round(duration, 3) if duration else None,
            "bit_rate": container.bit_rate or None,
            "streams": streams,
            "kind": "video" if videos else "audio",
        }
    if videos:
        main = videos[0]
        upright = rotation in (90, -90, 270, -270)
        info.update(
            width=main["height"] if upright else main["width"],
            height=main["width"] if upright else main["height"],
            video_codec=main["codec"],
            frame_rate=main["frame_rate"],
            rotation=rotation,
        )
    if audios:
        info.update(audio_codec=audios[0]["codec"], sample_rate=audios[0]["sample_rate"])
    info["captured_at"] = _time(tags.get("com.apple.quicktime.creationdate") or tags.get("creation_time"))
    place = _location(_first(tags, LOCATION_TAGS))
    if place:
        info["latitude"], info["longitude"] = place
    info["device_make"] = _first(tags, MAKE_TAGS)
    info["device_model"] = _first(tags, MODEL_TAGS)
    info["device_serial"] = _first(tags, SERIAL_TAGS)
    return {k: v for k, v in info.items() if v is not None}


def _first_frame_rotation(container: av.container.InputContainer) -> int:
    """Decode the first video frame: proves the video decodes, and carries the display
    rotation FFmpeg applies (phones record sideways and say so in a display matrix)."""
    stream = container.streams.video[0]
    try:
        for n, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return int(getattr(frame, "rotation", 0) or 0)
            if n > MAX_FRAME_PROBE_PACKETS:
                break
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"the video stream does not decode ({exc.strerror or exc})") from None
    raise PermanentFailure("the video stream holds no decodable frame (truncated or corrupt)")


def _gps(ifd: dict[int, Any]) -> tuple[float, float] | None:
    def degrees(values: Any, ref: Any) -> float:
        d, m, s = (float(v) for v in values)
        sign = -1 if str(ref).upper() in {"S", "W"} else 1
        return sign * (d + m / 60 + s / 3600)

    try:
        lat = degrees(ifd[2], ifd[1])
        lon = degrees(ifd[4], ifd[3])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0.0, 0.0):
        return None
    return round(lat, 7), round(lon, 7)


def probe_image(f: BinaryIO) -> dict[str, Any]:
    """Photos: format, size (upright, after EXIF orientation), capture time, GPS, camera.
    What Pillow warns about (a corrupt EXIF block) becomes the result's ``warnings``."""
    with warnings_module.catch_warnings(record=True) as caught:
        warnings_module.simplefilter("always")
        info = _probe_image(f)
    found = [f"EXIF: {w.message}" for w in caught][:5]
    if found:
        info["warnings"] = [*info.get("warnings", []), *found]
    return info


def _probe_image(f: BinaryIO) -> dict[str, Any]:
    try:
        with Image.open(f) as img:
            img.verify()  # structure check without decoding everything
    except Image.DecompressionBombError as exc:
        raise PermanentFailure(f"the image is too large to open safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PermanentFailure(f"not a readable image ({exc})") from None
    f.seek(0)
    warnings: list[str] = []
    with Image.open(f) as img:
        info: dict[str, Any] = {"kind": "image", "container": (img.format or "").lower(), "mode": img.mode}
        width, height = img.size
        orientation = 1
        tags: dict[int, Any] = {}
        gps: tuple[float, float] | None = None
        try:
            exif = img.getexif()
            orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
            tags = {**dict(exif), **dict(exif.get_ifd(ExifTags.IFD.Exif))}
            gps = _gps(dict(exif.get_ifd(ExifTags.IFD.GPSInfo)))
        except Exception as exc:  # a corrupt EXIF block must not lose the picture
            warnings.append(f"the EXIF block could not be read ({exc}); size and format only")
    upright = orientation in (5, 6, 7, 8)
    info.update(
        width=height if upright else width, height=width if upright else height, orientation=orientation
    )
    when = tags.get(ExifTags.Base.DateTimeOriginal) or tags.get(ExifTags.Base.DateTime)
    if isinstance(when, str):
        try:
            info["captured_at"] = _time(
                datetime.strptime(when.strip("\x00 "), "%Y:%m:%d %H:%M:%S").isoformat()
            )
        except ValueError:
            warnings.append(f"the EXIF capture time {when!r} is not a date")
    if gps:
        info["latitude"], info["longitude"] = gps
    for key, name in (
        (ExifTags.Base.Make, "device_make"),
        (ExifTags.Base.Model, "device_model"),
        (ExifTags.Base.BodySerialNumber, "device_serial"),
    ):
        value = tags.get(key)
        if isinstance(value, str) and value.strip("\x00 "):
            info[name] = value.strip("\x00 ")[:200]
    if warnings:
        info["warnings"] = warnings
    return {k: v for k, v in info.items() if v is not None}


class MediaProbe:
    """The ``MediaProber`` port: photos through Pillow, audio and video through PyAV."""

    def probe(self, kind: str, f: BinaryIO) -> dict[str, Any]:
        return probe_image(f) if kind == "image" else probe_av(f)

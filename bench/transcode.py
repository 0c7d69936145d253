"""Media processing benchmark.

Generates a 1080p30 clip with sound (10 minutes by default) and prints, measured in this run:
  (a) the proxy job's wall time (read the encrypted original, transcode to the 720p H.264/AAC
      proxy with poster, sprite sheet and waveform, encrypt and record everything) against a
      bare PyAV transcode of the same file with the same settings, from a plain file to a
      plain file -- target ratio <= 1.1;
  (b) the real-time factor of the proxy job (clip seconds per wall second);
  (c) time to first byte of HTTP Range requests in the middle of a 2-hour 720p proxy served
      by `opendems serve` -- target < 50 ms.
Usage: python bench/transcode.py [--minutes N] [--proxy-hours H]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.server import Server  # noqa: E402

from opendems.adapters.media import transcode as settings  # noqa: E402
from opendems.bootstrap import Container, initialise  # noqa: E402
from opendems.config import Settings  # noqa: E402
from opendems.domain.jobs import JobState  # noqa: E402
from opendems.services.accounts import create_token, save_role  # noqa: E402
from opendems.services.ingest import IngestRequest, ingest_stream  # noqa: E402
from opendems.services.media import store_derivative  # noqa: E402

FPS = 30


def make_clip(path: Path, seconds: int, width: int = 1920, height: int = 1080) -> None:
    """A camera-like clip: moving bars over a gradient (so the encoder has work), and a tone."""
    base = [Image.new("RGB", (width, height), (40 + i * 7 % 200, 90, 140)) for i in range(FPS)]
    frames = []
    for i, img in enumerate(base):
        for x in range(0, width, 120):
            img.paste(
                ((x + i * 9) % 256, (x * 3) % 256, 60),
                ((x + i * 8) % width, 0, (x + i * 8) % width + 40, height),
            )
        frames.append(av.VideoFrame.from_image(img).reformat(format="yuv420p"))
    with av.open(str(path), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.options = {"preset": "ultrafast", "crf": "20"}
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        tone = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in tone.planes:
            plane.update(bytes(1024 * 4))
        tone.sample_rate = 48000
        audio_pts = 0
        for n in range(seconds * FPS):
            frame = frames[n % FPS]
            frame.pts = n
            frame.time_base = Fraction(1, FPS)
            for p in v.encode(frame):
                out.mux(p)
            while audio_pts < (n + 1) * 48000 // FPS:
                tone.pts = audio_pts
                for p in a.encode(tone):
                    out.mux(p)
                audio_pts += 1024
        for p in v.encode():
            out.mux(p)
        for p in a.encode():
            out.mux(p)


def bare_transcode(src: Path, dst: Path) -> float:
    """The same proxy settings with nothing else: plain file in, plain file out."""
    start = time.perf_counter()
    with (
        av.open(str(src)) as inp,
        av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vin.thread_type = "AUTO"
        rate = vin.average_rate or Fraction(FPS)
        gop = str(round(float(rate) * settings.KEYFRAME_SECONDS))
        width, height = settings._scaled(vin.width, vin.height, settings.PROXY_MAX_HEIGHT)
        v = out.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.gop_size = int(gop)
        v.codec_context.options = {
            "crf": str(settings.PROXY_CRF),
            "preset": settings.PROXY_PRESET,
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        a = out.add_stream("aac", rate=48000)
        a.bit_rate = settings.AUDIO_BITRATE
        a.layout = "stereo"
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for packet in inp.demux(vin, ain):
            if packet.stream is vin:
                for frame in packet.decode():
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = frame.pts, frame.time_base
                    scaled.pict_type = settings.NO_PICTURE_TYPE
                    for p in v.encode(scaled):
                        out.mux(p)
            else:
                for frame in packet.decode():
                    frame.pts = None
                    for converted in resampler.resample(frame):
                        for p in a.encode(converted):
                            out.mux(p)
        for p in v.encode():
            out.mux(p)
        for p in a.encode():
            out.mux(p)
    return time.perf_counter() - start


def long_proxy(src_proxy: Path, dst: Path, hours: float) -> None:
    """A long 720p proxy made by repeating a real proxy's packets (no re-encoding)."""
    with av.open(str(src_proxy)) as inp:
        v = inp.streams.video[0]
        packets = [p for p in inp.demux(v) if p.size]
        span = float(inp.duration or 0) / 1_000_000
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            ov = out.add_stream_from_template(v)
            step = round(span / float(v.time_base))
            repeats = max(1, round(hours * 3600 / span))
            for r in range(repeats):
                for p in packets:
                    p2 = av.Packet(bytes(p))
                    p2.pts = p.pts + r * step if p.pts is not None else None
                    p2.dts = p.dts + r * step if p.dts is not None else None
                    p2.is_keyframe = p.is_keyframe
                    p2.time_base = v.time_base
                    p2.stream = ov
                    out.mux(p2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--proxy-hours", type=float, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opendems-transcode-") as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        seconds = int(args.minutes * 60)
        t = time.perf_counter()
        make_clip(clip, seconds)
        print(
            f"clip: {seconds} s of 1080p{FPS} H.264 + AAC, {clip.stat().st_size / 1e6:.0f} MB (made in {time.perf_counter() - t:.0f} s)"
        )

        bare = bare_transcode(clip, root / "bare.mp4")

        c = Container(Settings(data_dir=root / "data", workers=0))
        initialise(c)
        req = IngestRequest(filename="clip.mp4")
        with clip.open("rb") as f:
            item = ingest_stream(
                c.system_actor("bench"), req, iter(lambda: f.read(8 << 20), b""),
                uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits,
            ).item  # fmt: skip
        probe = c.processor.run_next("bench")
        assert probe and probe.kind == "probe" and probe.state is JobState.DONE, probe
        start = time.perf_counter()
        job = c.processor.run_next("bench")
        job_wall = time.perf_counter() - start
        assert job and job.kind == "proxy" and job.state is JobState.DONE, job
        print(
            f"(a) proxy job: {job_wall:7.1f} s   bare PyAV transcode: {bare:7.1f} s   ratio {job_wall / bare:.2f}  (target <= 1.1)"
        )
        print(f"(b) real-time factor of the proxy job: {seconds / job_wall:.1f}x")

        with c.uow() as uow:
            done = uow.evidence.get(item.id)
        assert done is not None
        proxy = next(d for d in done.derivatives if d.kind == "proxy")
        plain = root / "proxy.mp4"
        plain.write_bytes(b"".join(c.blobs.read_all(proxy.blob_key)))
        longer = root / "long-proxy.mp4"
        long_proxy(plain, longer, args.proxy_hours)
        req2 = IngestRequest(filename="long.mp4")
        with longer.open("rb") as f:
            item2 = ingest_stream(
                c.system_actor("bench"), req2, iter(lambda: f.read(8 << 20), b""),
                uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits,
            ).item  # fmt: skip
        ctx = c.processor.make_context()
        stored = store_derivative(
            ctx, item2, "proxy", mime_type="video/mp4", tool="bench", parameters={}, path=longer
        )
        token = create_token(c.system_actor("bench"), "admin", "bench", uow=c.uow(), clock=c.clock).token
        # The administrator may play evidence for the benchmark's sake only.
        with c.uow() as uow:
            role = uow.accounts.role("administrator")
        assert role is not None
        save_role(
            c.system_actor("bench"), "administrator",
            [*role.permissions, "evidence:view", "evidence:play"], uow=c.uow(), clock=c.clock,
        )  # fmt: skip
        server = Server(root / "data").start()
        try:
            url = f"{server.url}/api/v1/evidence/{item2.id}/derivatives/proxy"
            headers = {"Authorization": f"Bearer {token}"}
            size = stored.size
            ttfb = []
            with requests.Session() as s:
                for n in range(21):
                    first = size // 2 + n * 1_000_003
                    t = time.perf_counter()
                    with s.get(
                        url, headers={**headers, "Range": f"bytes={first}-{first + 2_000_000}"}, stream=True
                    ) as r:
                        assert r.status_code == 206, r.text
                        next(r.iter_content(65536))
                        ttfb.append(time.perf_counter() - t)
            median = statistics.median(ttfb[1:])
            print(
                f"(c) Range TTFB in the middle of a {args.proxy_hours:g} h proxy ({size / 1e6:.0f} MB): "
                f"median {median * 1000:.1f} ms, ratio {median / 0.05:.2f} to the 50 ms target"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()

"""Redaction benchmark.

Generates a 60-second 1280x720 clip at 30 frames/s with two faces (the face of
scikit-image's astronaut) walking across it at known boxes, one of them out of the picture,
and measures in the same run:
  (a) OpenDEMS's whole pipeline -- analysis (decode, detection on every fourth frame, tracking)
      and render (decode, covering, H.264 encode) -- in frames per second, against real time;
      per-frame face recall of the plan (every visible face box covered) and false positives
      (detected boxes away from any face); and whether any face shows in any output frame
      (the detail left in each true face box of the decoded output, against the source's);
  (b) the `deface` command line (--scale 640x360) on the same clip: its frames per second,
      and in how many output frames a face still shows, by the same measure;
  and the ratio (a)/(b).
Targets on 2 CPU cores: recall >= 0.99 with no face visible in any output frame, >= 60
frames/s, >= 4x deface.  Where the detector runs on a GPU (onnxruntime's CUDA provider, or
PyTorch with the extra `gpu`): >= 600 frames/s for the whole pipeline on that machine.
Usage: python bench/redact.py [--seconds 60] [--keep DIR] [--without-deface]
(`deface` needs the bench extra: pip install -e '.[bench]'; `make bench-redact` does it.
--without-deface leaves out (b), for a GPU machine where only the 600 frames/s target applies.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.faces import FacePath, covered_share, face_shows, visible_part, write_clip  # noqa: E402

from opendems.adapters.media import redact  # noqa: E402
from opendems.adapters.vision.plates import PlateDetector  # noqa: E402

W, H, FPS = 1280, 720, 30
FACES = [
    FacePath(150, 220, 150, dx=3.2, dy=0.2),  # crosses the picture and walks out on the right
    FacePath(1050, 500, 110, dx=-1.2, dy=-0.1, mirror=True),
]
Boxes = list[list[tuple[float, float, float, float]]]


def make_clip(path: Path, seconds: int) -> Boxes:
    return write_clip(
        path,
        width=W,
        height=H,
        fps=FPS,
        seconds=seconds,
        faces=FACES,
        seed=7,
        preset="veryfast",
        tone_level=0.3,
    )


def faces_showing(source: Path, output: Path, truth: Boxes) -> tuple[int, int]:
    """(output frames in which some face shows, visible face boxes checked)."""
    showing = checked = 0
    with av.open(str(source)) as a, av.open(str(output)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0), strict=False)):
            src, out = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            parts = [p for box in truth[i] if (p := visible_part(box, W, H)) is not None]
            checked += len(parts)
            if any(face_shows(src, out, p) for p in parts):
                showing += 1
    return showing, checked


def run_deface(clip: Path, out: Path, truth: Boxes) -> tuple[float, int]:
    """deface's command line on the clip: (frames/s, output frames in which a face shows)."""
    deface = shutil.which("deface") or str(Path(sys.executable).parent / "deface")
    t0 = time.perf_counter()
    run = subprocess.run(
        [deface, str(clip), "-o", str(out), "--scale", "640x360"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"deface failed ({run.returncode}): {run.stderr[-500:]}")
    return len(truth) / seconds, faces_showing(clip, out, truth)[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="keep the clip and outputs in this folder")
    parser.add_argument("--without-deface", action="store_true", help="measure (a) alone")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="opendems-redact-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        clip = work / "clip.mp4"
        truth = make_clip(clip, args.seconds)
        frames = len(truth)
        print(
            f"clip: {frames} frames of {W}x{H} at {FPS} fps ({args.seconds} s), two faces; cpu cores: {os.cpu_count()}"
        )

        detector = redact.face_detector()  # as the service makes it: on a GPU where there is one
        runtime = detector.provenance.get("runtime") or "onnxruntime on the CPU"
        on_gpu = "CPU" not in runtime and "cpu," not in runtime
        print(f"detector: {detector.provenance.get('model')}, {runtime}")
        start = time.perf_counter()
        analysis = redact.analyse(str(clip), detector, plates=PlateDetector())  # as the service runs it
        analysed = time.perf_counter()
        plan = analysis.plan()
        ours_out = work / "opendems.mp4"
        redact.render(str(clip), ours_out, plan)
        done = time.perf_counter()
        ours_fps = frames / (done - start)

        covered = total = 0
        false_positives = 0
        for i, boxes in enumerate(truth):
            regions = [r for r, _ in plan.regions_at(i)]
            for box in boxes:
                part = visible_part(box, W, H)
                if part is not None:
                    total += 1
                    covered += covered_share(part, regions) >= 0.98
            for t in analysis.tracks:
                p = t.points.get(i)
                if (
                    p is not None
                    and p.source == "detected"
                    and not any(covered_share(p.box, [b]) > 0.3 for b in boxes)
                ):
                    false_positives += 1
        false_positives += sum(len(t.points) for t in analysis.plates)  # the clip shows no plate
        ours_showing, checked = faces_showing(clip, ours_out, truth)

        deface_fps = deface_showing = None
        if not args.without_deface:
            deface_fps, deface_showing = run_deface(clip, work / "deface.mp4", truth)

        recall = covered / total
        print(
            f"(a) OpenDEMS detect + track + render: {ours_fps:6.1f} frames/s = {ours_fps / FPS:.1f}x real time"
            f"   (analysis {frames / (analysed - start):.0f} fps, render {frames / (done - analysed):.0f} fps;"
            f" detector on {analysis.detected_frames} frames)"
        )
        print(
            f"    per-frame face recall {recall:.4f} ({covered}/{total} visible face boxes covered);"
            f" false positives {false_positives}; output frames showing a face: {ours_showing} of {frames}"
            f"  (targets: recall >= 0.99, none showing, >= {600 if on_gpu else 60} fps)"
        )
        if on_gpu:
            print(f"ratio (a)/600 frames/s, the target with a GPU: {ours_fps / 600:.2f}  (target >= 1)")
        if deface_fps is not None:
            print(
                f"(b) deface --scale 640x360:            {deface_fps:6.1f} frames/s;"
                f" output frames showing a face: {deface_showing} of {frames}"
            )
            print(f"ratio (a)/(b): {ours_fps / deface_fps:.2f}  (target >= 4)")
        print(f"checked {checked} face boxes in each output")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

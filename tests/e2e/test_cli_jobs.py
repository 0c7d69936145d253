"""`opendems worker` and `opendems jobs`, and the server's own workers, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.server import OPENDEMS, Server, cli
from tests.media import jpeg_bytes, video_bytes


def test_worker_and_jobs_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clip = video_bytes()
    (tmp_path / "clip.mp4").write_bytes(clip)
    (tmp_path / "broken.mp4").write_bytes(clip[: len(clip) // 3])
    cli(data, "ingest", str(tmp_path / "clip.mp4"), str(tmp_path / "broken.mp4"))

    queued = json.loads(cli(data, "jobs", "--json").stdout)
    assert queued["counts"] == {"queued": 6}  # probe, proxy and transcribe, for each
    # Nobody is running jobs: waiting gives up and says so.
    waited = cli(data, "jobs", "--wait", "--timeout", "1", check=False)
    assert waited.returncode == 1 and "still 6 job(s) queued or running" in waited.stderr

    ran = cli(data, "worker", "--until-idle", check=False)
    assert ran.returncode == 1 and "Ran 6 job(s); 3 failed." in ran.stdout
    after = json.loads(cli(data, "jobs", "--json").stdout)
    assert after["counts"] == {"done": 3, "failed": 3}
    unheard = next(j for j in after["jobs"] if j["state"] == "failed" and j["kind"] == "transcribe")
    assert unheard["error"].startswith("not a readable recording")
    failed = next(j for j in after["jobs"] if j["state"] == "failed" and j["kind"] == "probe")
    assert failed["error"] and failed["attempts"] == 1
    assert f"{failed['evidence_id']}: {failed['error']}" in ran.stderr  # the reason, named
    shown = json.loads(cli(data, "show", failed["evidence_id"], "--json").stdout)
    assert shown["media"] == {"error": failed["error"]}
    # Run it once more by hand (a codec update, say); still broken, it fails again, recorded.
    again = cli(data, "retry-job", str(failed["id"]))
    assert f"Job {failed['id']} (probe of {failed['evidence_id']}) is queued again." in again.stdout
    assert (
        cli(data, "retry-job", str(failed["id"]), check=False)
        .stderr.strip()
        .endswith("only a failed job can be run again")
    )
    assert cli(data, "worker", "--until-idle", check=False).returncode == 1
    custody = json.loads(cli(data, "custody", failed["evidence_id"], "--json").stdout)
    assert [e["action"] for e in custody].count("evidence:reprocess") == 1


def test_the_server_processes_what_is_ingested_beside_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data).start()
    try:
        (tmp_path / "p.jpg").write_bytes(jpeg_bytes(gps=(52.52, 13.405)))
        cli(data, "ingest", str(tmp_path / "p.jpg"))
        done = cli(data, "jobs", "--wait", "--timeout", "60")
        assert "3 done" in done.stdout  # probe, previews and the text in the photo (ocr)
        shown = json.loads(cli(data, "show", "EV-" + done.stdout.split("EV-")[1].split()[0], "--json").stdout)
        assert shown["media"]["kind"] == "image" and abs(shown["latitude"] - 52.52) < 1e-3
    finally:
        server.stop()


def test_a_worker_killed_midway_leaves_a_job_that_completes_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Long enough that the transcode is still running when the test, polling through the
    # command line (a new process each time), catches it.
    (tmp_path / "long.mp4").write_bytes(video_bytes(seconds=90, width=640, height=480))
    cli(data, "ingest", str(tmp_path / "long.mp4"))
    env = {**os.environ, "OPENDEMS_JOB_LEASE_SECONDS": "3"}
    worker = subprocess.Popen([*OPENDEMS, "--data-dir", str(data), "worker"], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = json.loads(cli(data, "jobs", "--json").stdout)["jobs"]
            proxy = next(j for j in jobs if j["kind"] == "proxy")
            if proxy["state"] == "running" and proxy["progress"] > 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the proxy job never got going: {jobs}")
        worker.send_signal(signal.SIGKILL)  # mid-transcode: no clean-up of any kind
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    leftovers = list((data / "work").glob("job-*"))
    assert leftovers  # the half-made proxy, still there
    time.sleep(3.5)  # the dead worker's lease runs out
    ran = subprocess.run(
        [*OPENDEMS, "--data-dir", str(data), "worker", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    after = json.loads(cli(data, "jobs", "--json").stdout)["jobs"]
    proxy = next(j for j in after if j["kind"] == "proxy")
    assert proxy["state"] == "done" and proxy["attempts"] == 2
    shown = json.loads(cli(data, "show", proxy["evidence_id"], "--json").stdout)
    # (the clip is silent: its transcript says no speech was found, and there are no captions)
    assert sorted(d["kind"] for d in shown["derivatives"]) == [
        "poster",
        "proxy",
        "sprite",
        "transcript",
        "waveform",
    ]
    assert not any(p.exists() for p in leftovers)  # the retry cleared the dead run's file

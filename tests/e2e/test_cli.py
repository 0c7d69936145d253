"""The command line as an evidence technician uses it, run as a real process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.backends import RawDatabase, container_of, read_stored, stored_blobs, write_stored
from tests.e2e.server import cli
from tests.factories import mp4_bytes, pdf_bytes, png_bytes, wav_bytes


@pytest.fixture
def dock(tmp_path: Path) -> Path:
    """A camera dock offload: good files, a duplicate, and bad ones."""
    root = tmp_path / "dock"
    (root / "DCIM" / "100CAM").mkdir(parents=True)
    (root / "DCIM" / "100CAM" / "clip-0001.mp4").write_bytes(mp4_bytes(payload=300_000))
    (root / "DCIM" / "100CAM" / "clip-0002.mp4").write_bytes(mp4_bytes(payload=200_000))
    (root / "audio.wav").write_bytes(wav_bytes())
    (root / "photo.png").write_bytes(png_bytes(seed=3))
    (root / "copy-of-photo.png").write_bytes(png_bytes(seed=3))
    (root / "report.pdf").write_bytes(pdf_bytes())
    (root / "empty.mp4").write_bytes(b"")
    (root / "disguised.mp4").write_bytes(png_bytes(seed=9))  # an image pretending to be video
    return root


def test_ingest_a_dock_offload(tmp_path: Path, dock: Path) -> None:
    data = tmp_path / "data"
    cli(data, "case", "create", "2026-000777", "--title", "Burglary, 12 Elm St")
    result = cli(
        data,
        "ingest",
        str(dock),
        "--case",
        "2026-000777",
        "--officer",
        "Ofc. Diaz",
        "--device",
        "BWC-7",
        "--category",
        "burglary",
        "--tag",
        "night",
        check=False,
    )
    assert result.returncode == 1, "a failed file must make the command exit non-zero"
    out = result.stdout
    assert "5 stored, 1 already held, 2 failed" in out
    assert "zero-length" in out
    assert "disguised.mp4" in out and "extension says video" in out

    case = json.loads(cli(data, "case", "show", "2026-000777", "--json").stdout)
    assert len(case["evidence"]) == 5
    shown = [json.loads(cli(data, "show", ev, "--json").stdout) for ev in case["evidence"]]
    by_name = {s["original"]["filename"]: s for s in shown}
    clip = by_name["clip-0001.mp4"]
    assert clip["kind"] == "video" and clip["captured_by"] == "Ofc. Diaz" and clip["device_serial"] == "BWC-7"
    assert clip["tags"] == ["night"] and clip["category"] == "burglary"
    expected = hashlib.sha256((dock / "DCIM" / "100CAM" / "clip-0001.mp4").read_bytes()).hexdigest()
    assert clip["original"]["sha256"] == expected
    assert by_name["audio.wav"]["kind"] == "audio"
    assert by_name["report.pdf"]["kind"] == "document"

    # Ingesting the same folder again stores nothing twice.
    again = cli(data, "ingest", str(dock / "DCIM"), check=False)
    assert again.returncode == 0
    assert "0 stored, 2 already held, 0 failed" in again.stdout
    # Half a MiB read: its amount in KiB, and no rate (start-up is all it would measure).
    clips = sum(f.stat().st_size for f in (dock / "DCIM").rglob("*.mp4"))
    assert f"; {clips / 1024:.1f} KiB in " in again.stdout
    assert "MiB/s" not in again.stdout

    allowed = cli(data, "ingest", str(dock / "disguised.mp4"), "--allow-mismatch")
    assert "1 stored" in allowed.stdout


def test_ingest_never_stores_the_vault_itself(tmp_path: Path) -> None:
    """Offloading a folder that holds OpenDEMS's own data directory stores the evidence in it,
    not the vault's database, blobs and keys -- not even through a link."""
    station = tmp_path / "station"
    data = station / "opendems-data"
    cli(data, "case", "create", "2026-000778", "--title", "Vault in the dock")
    (station / "DCIM").mkdir(parents=True)
    (station / "DCIM" / "clip-0001.mp4").write_bytes(mp4_bytes(payload=100_000))
    inside = sorted(p for p in data.rglob("*") if p.is_file())
    assert inside, "the data directory holds the vault's files"
    (station / "DCIM" / "link.bin").symlink_to(inside[0])

    result = cli(data, "ingest", str(station), "--case", "2026-000778")
    assert result.returncode == 0, "a skipped folder is not a failed file"
    out = " ".join(result.stdout.split())
    assert "1 stored, 0 already held, 0 failed, 2 skipped" in out
    assert "OpenDEMS's own storage" in out
    case = json.loads(cli(data, "case", "show", "2026-000778", "--json").stdout)
    assert len(case["evidence"]) == 1
    assert json.loads(cli(data, "show", case["evidence"][0], "--json").stdout)["original"]["filename"] == (
        "clip-0001.mp4"
    )

    # Named directly, a file of the vault is skipped too.
    direct = cli(data, "ingest", str(inside[-1]))
    assert "0 stored, 0 already held, 0 failed, 1 skipped" in " ".join(direct.stdout.split())


def test_custody_history_and_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photo = tmp_path / "scene.png"
    photo.write_bytes(png_bytes(seed=4))
    cli(data, "ingest", str(photo))
    history = json.loads(cli(data, "custody", "EV-2026-000001", "--json").stdout)
    assert [e["action"] for e in history][:1] == ["evidence:ingest"]
    assert history[0]["actor_name"] == "cli" and history[0]["details"]["os_user"]
    assert history[0]["service"] == "cli"

    ok = cli(data, "verify", "--all")
    assert "custody chain" in ok.stdout and "FAIL" not in ok.stdout

    # Flip one byte of the stored (encrypted) original: verify must name the item and fail.
    c = container_of(data)
    [blob] = stored_blobs(c)
    raw = bytearray(read_stored(c, blob))
    raw[len(raw) // 2] ^= 0xFF
    write_stored(c, blob, bytes(raw))
    bad = cli(data, "verify", "EV-2026-000001", check=False)
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "EV-2026-000001" in bad.stdout
    assert "verification failed" in bad.stderr


def test_acting_as_a_named_account(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "user", "add", "tech.ng", "--role", "officer", input_text=None)
    photo = tmp_path / "p.png"
    photo.write_bytes(png_bytes(seed=5))
    cli(data, "--as", "tech.ng", "ingest", str(photo))
    history = json.loads(cli(data, "custody", "EV-2026-000001", "--json").stdout)
    assert history[0]["actor_name"] == "tech.ng"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "{tmp}/p.png", "--case", "NOPE-1"], "case NOPE-1 not found"),
        (["ingest", "{tmp}/p.png", "--captured-at", "yesterday"], "not an ISO 8601"),
        (["ingest", "{tmp}/p.png", "--captured-at", "2026-03-01T10:00:00"], "time zone"),
        (["show", "EV-2026-999999"], "not found"),
        (["show", "not-an-id"], "not an evidence id"),
        (["verify"], "give --all"),
        (["user", "add", "x", "--role", "officer"], "not a valid user name"),
        (["user", "add", "sam.k", "--role", "sheriff"], "unknown role"),
        (["--as", "ghost", "ingest", "{tmp}/p.png"], "no active user"),
        (["token", "create", "--user", "ghost", "--name", "x"], "no user named"),
    ],
)
def test_bad_input_gets_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "p.png").write_bytes(png_bytes(seed=6))
    result = cli(tmp_path / "data", *[a.replace("{tmp}", str(tmp_path)) for a in args], check=False)
    assert result.returncode != 0
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("Created the first administrator")
    ]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_token_is_printed_once_and_works(tmp_path: Path) -> None:
    import requests

    from tests.e2e.server import Server

    data = tmp_path / "data"
    cli(data, "user", "add", "inv.park", "--role", "investigator")
    token = cli(data, "token", "create", "--user", "inv.park", "--name", "laptop").stdout.strip()
    assert token.startswith("odt_")
    raw = RawDatabase(container_of(data))
    stored = raw.execute("SELECT * FROM api_tokens").fetchall()
    raw.close()
    assert stored and not any(token in str(column) for row in stored for column in row)  # only its hash
    server = Server(data).start()
    try:
        me = requests.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["name"] == "inv.park"
        anonymous = requests.get(f"{server.url}/api/v1/evidence")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        docs = requests.get(f"{server.url}/docs")
        assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()
        assert requests.get(f"{server.url}/static/swagger/swagger-ui-bundle.js").status_code == 200
        assert requests.get(f"{server.url}/openapi.json").json()["info"]["title"] == "OpenDEMS"
    finally:
        server.stop()

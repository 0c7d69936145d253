"""``opendems export create|list|download|verify`` run as an operator would: a case exported,
written as a ZIP, and checked on its own -- and a changed byte or a stray file caught."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from tests.e2e.server import cli
from tests.factories import pdf_bytes, png_bytes


def test_export_a_case_download_it_and_verify_it_offline(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = tmp_path / "in"
    files.mkdir()
    (files / "scene.png").write_bytes(png_bytes(seed=4))
    (files / "report.pdf").write_bytes(pdf_bytes())
    cli(data, "case", "create", "C-9", "--title", "People v. Roe")
    cli(data, "ingest", str(files), "--case", "C-9")

    made = cli(data, "export", "create", "--case", "C-9", "--title", "People v. Roe").stdout
    export_id = re.search(r"EX-\d{4}-\d{6}", made).group(0)  # type: ignore[union-attr]
    assert f"Export {export_id} is ready" in made
    assert export_id in cli(data, "export", "list").stdout

    out = tmp_path / "out"
    out.mkdir()
    wrote = cli(data, "export", "download", export_id, "--to", str(out)).stdout
    package = out / f"{export_id}.zip"
    assert package.exists() and f"Wrote {package}" in wrote.replace("\n", "")
    again = cli(data, "export", "download", export_id, "--to", str(out), check=False)
    assert again.returncode == 1 and "exists already" in again.stderr

    ok = cli(data, "export", "verify", str(package))
    assert "OK" in ok.stdout and "payload files" in ok.stdout
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(package).extractall(folder)
    assert "OK" in cli(data, "export", "verify", str(folder / export_id)).stdout

    # One byte changed: named, and a non-zero exit.
    target = next((folder / export_id / "data").rglob("scene.png"))
    raw = bytearray(target.read_bytes())
    raw[-10] ^= 0xFF
    target.write_bytes(bytes(raw))
    bad = cli(data, "export", "verify", str(folder / export_id), check=False)
    assert bad.returncode == 1 and "scene.png" in bad.stderr and "does not verify" in bad.stderr
    # Not a package at all.
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    bad = cli(data, "export", "verify", str(junk), check=False)
    assert bad.returncode == 1 and "neither a package folder nor a ZIP" in bad.stderr
    # The custody log holds the export and its download.
    custody = cli(data, "audit", "search", "--object-type", "export", "--object-id", export_id).stdout
    for action in ("export:create", "export:ready", "export:download", "export:transfer"):
        assert action in custody, action

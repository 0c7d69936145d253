"""``opendems serve`` speaks TLS itself when given a certificate and key, and believes the
client address a trusted reverse proxy forwards (it lands in the custody record)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.server import OPENDEMS, cli, free_port


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dems.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_serves_https_and_records_the_forwarded_client(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cert, key = _self_signed(tmp_path)
    cli(data, "user", "add", "ofc.lee", "--role", "officer")
    token = cli(data, "token", "create", "--user", "ofc.lee", "--name", "t").stdout.strip()
    port = free_port()
    env = {
        **os.environ,
        "OPENDEMS_TLS_CERT_FILE": str(cert),
        "OPENDEMS_TLS_KEY_FILE": str(key),
        "OPENDEMS_TRUSTED_PROXIES": "127.0.0.1",
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [*OPENDEMS, "--data-dir", str(data), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/v1/health", verify=str(cert), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{url}/api/v1/health", timeout=5)  # not trusted without the certificate
        upload = requests.post(
            f"{url}/api/v1/evidence",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7"},
            params={"filename": "note.txt"},
            data=b"a statement, taken at the scene",
            verify=str(cert),
            timeout=30,
        )
        assert upload.status_code == 201, upload.text
        evidence_id = upload.json()["item"]["id"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    events = json.loads(cli(data, "custody", evidence_id, "--json").stdout)
    ingest = next(e for e in events if e["action"] == "evidence:ingest")
    assert ingest["client_address"] == "198.51.100.7"


def test_half_a_tls_configuration_is_a_clear_error(tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path)
    env = {**os.environ, "OPENDEMS_TLS_CERT_FILE": str(cert)}
    ran = subprocess.run(
        [*OPENDEMS, "--data-dir", str(tmp_path / "data"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode != 0
    assert "TLS needs both OPENDEMS_TLS_CERT_FILE and OPENDEMS_TLS_KEY_FILE" in ran.stderr

"""A real OpenID Connect provider (``oidc-provider-mock``) in a subprocess, and a browser stand-in for it.

The mock accepts any ``client_id`` and ``client_secret`` (``client_secret_basic`` or
``client_secret_post``) and any ``redirect_uri``. It signs ID tokens with RS256 and puts every
non-standard claim of the user (``groups``) in the ID token and userinfo; ``email`` needs the
``email`` scope and ``name`` the ``profile`` scope. It accepts PKCE parameters but does not check them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OidcProvider:
    """``with OidcProvider(tmp_path) as idp:`` runs ``python -m oidc_provider_mock`` on a free port.

    ``idp.issuer`` is its base URL. The mock takes the issuer from the request's Host header, so
    everyone (the app included) must call it at this very URL (127.0.0.1, not localhost).
    """

    def __init__(
        self,
        log_dir: Path | None = None,
        *,
        require_nonce: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = _free_port()
        self.log = Path(log_dir or tempfile.mkdtemp(prefix="oidc-")) / f"oidc-provider-{self.port}.log"
        self.args = [
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *(["--require-nonce"] if require_nonce else []),
            *extra_args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self, timeout: float = 20) -> OidcProvider:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oidc_provider_mock", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oidc-provider-mock exited ({self.proc.returncode}):\n{self._log_tail()}")
            try:
                if httpx2.get(self.discovery_url, timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"oidc-provider-mock did not answer within {timeout} s:\n{self._log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    def metadata(self) -> dict[str, Any]:
        """The discovery document (endpoints, supported algorithms)."""
        response = httpx2.get(self.discovery_url, timeout=10)
        response.raise_for_status()
        document = response.json()
        assert isinstance(document, dict)
        return document

    def set_user(self, sub: str, claims: Mapping[str, object]) -> None:
        """Set the claims (besides ``sub``) of the user ``sub`` for the next sign-ins.

        A user never set gets ``{"email": sub}``.
        """
        response = httpx2.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=dict(claims), timeout=10)
        if response.status_code != 204:
            raise RuntimeError(f"setting user {sub!r} failed ({response.status_code}): {response.text}")


def authorize(
    provider: OidcProvider,
    authorize_url: str,
    sub: str,
    claims: Mapping[str, object] | None = None,
    *,
    deny: bool = False,
) -> str:
    """Do what the user's browser does at the provider: open ``authorize_url``, sign in as ``sub``.

    Returns the provider's redirect back to the app (``redirect_uri?code=...&state=...``, or
    ``?error=...`` when the provider rejects the request or ``deny`` is set), without following it.
    ``claims``, when given, are set for ``sub`` first (see ``OidcProvider.set_user``).
    """
    if not authorize_url.startswith(f"{provider.issuer}/"):
        raise AssertionError(f"{authorize_url} is not at the provider {provider.issuer}")
    if claims is not None:
        provider.set_user(sub, claims)
    with httpx2.Client(follow_redirects=False, timeout=10) as browser:
        page = browser.get(authorize_url)
        if page.status_code != 200:
            return _redirect(page)
        return _redirect(browser.post(authorize_url, data={"action": "deny"} if deny else {"sub": sub}))


def _redirect(response: httpx2.Response) -> str:
    if not response.is_redirect:
        raise AssertionError(
            f"provider answered {response.status_code}, not a redirect: {response.text[:1000]}"
        )
    return response.headers["location"]

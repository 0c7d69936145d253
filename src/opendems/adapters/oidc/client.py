"""OpenID Connect relying party: authorization code flow with PKCE (S256), through Authlib,
with the ID token's signature, issuer, audience, expiry and nonce checked (joserfc)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opendems.domain.errors import Unauthenticated

TIMEOUT_S = 10


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.issuer = issuer  # exactly as the provider names itself (a trailing "/" matters)
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri

    @cached_property
    def metadata(self) -> dict[str, Any]:
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            reply = requests.get(url, timeout=TIMEOUT_S)
            reply.raise_for_status()
            meta: dict[str, Any] = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise Unauthenticated(f"the identity provider at {self.issuer} does not answer: {exc}") from exc
        if meta.get("issuer") != self.issuer:
            raise Unauthenticated("the identity provider names a different issuer than the one configured")
        return meta

    def _session(self) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self._secret,
            scope="openid profile email",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
        )

    def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        url, _ = self._session().create_authorization_url(
            self.metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=code_verifier
        )
        return str(url)

    def claims_for(self, *, code: str, code_verifier: str, nonce: str) -> dict[str, Any]:
        """Exchange the code and return the verified ID token's claims."""
        try:
            token = self._session().fetch_token(
                self.metadata["token_endpoint"], code=code, code_verifier=code_verifier, timeout=TIMEOUT_S
            )
            keys = KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=TIMEOUT_S).json())
            decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256", "PS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (requests.RequestException, JoseError, KeyError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's answer could not be verified: {exc}") from exc
        except Exception as exc:  # Authlib raises its own OAuth errors for a refused code
            raise Unauthenticated(f"the identity provider refused the sign-in: {exc}") from exc
        return dict(decoded.claims)

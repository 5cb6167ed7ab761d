"""A real OpenID Connect provider for the e-ID tests, on a loopback port (issue 19).

Built on pyop (IdentityPython's OP library, the one SATOSA uses): discovery, JWKS, an authorization
endpoint that logs in the configured test user at once (no login page: the user's claims are set by
the test), the token endpoint (authorization code, PKCE S256, client_secret_basic, and
private_key_jwt checked here with joserfc since pyop has no such method) and userinfo.

A test can make it misbehave as a real provider or an attacker would: `cancel` (the user declines),
`down` (500 everywhere), `slow` (answers after `delay` seconds), `forge` (an ID token signed with a
key it never published, under its published `kid`), `wrong_audience`, `expired`, `wrong_nonce`,
`wrong_issuer` (validly signed tokens with one claim wrong), and `rotate_key()` (a new key, new `kid`).
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from Cryptodome.PublicKey import RSA as CryptodomeRSA
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from jwkest.jwk import RSAKey as JwkestRSAKey
from pyop.authz_state import AuthorizationState
from pyop.exceptions import InvalidAuthenticationRequest, InvalidClientAuthentication, OAuthError
from pyop.provider import Provider
from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
from pyop.userinfo import Userinfo
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "wassit-test"
CLIENT_SECRET = "s3cret-of-the-test-client"
PKJWT_CLIENT_ID = "wassit-test-pkjwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the RP trusts it through EID_CA_FILE), and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test identity provider")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "op-cert.pem", directory / "op-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def new_rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class LocalIdentityProvider:
    """The provider and its HTTP server; `base_url` is its issuer."""

    def __init__(
        self, redirect_uris: Iterable[str], directory: Path, *, client_private_key_pem: bytes | None = None
    ) -> None:
        self.redirect_uris = list(redirect_uris)
        self.client_private_key_pem = client_private_key_pem
        self.user: dict[str, Any] = {
            "sub": "dgsn-subject-0001",
            "cin": "AB123456",
            "given_name": "Salma",
            "family_name": "Bennani",
            "birthdate": "1990-04-12",
        }
        self.acr = "urn:dgsn:loa:substantial"
        self.behaviour = "normal"
        self.delay = 0.0
        self.requests: list[str] = []  # paths asked, for tests that count discovery or JWKS fetches
        self.ca_file, key_file = _tls_files(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=context, request_handler=_QuietHandler
        )
        self.base_url = f"https://127.0.0.1:{self._server.server_port}"
        self._kid_counter = 0
        self._rogue_pem = new_rsa_pem()
        self.rotate_key()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- configuration -------------------------------------------------------------------------

    def rotate_key(self) -> None:
        """A new signing key under a new `kid`; the old one is no longer published."""
        self._kid_counter += 1
        self.kid = f"key-{self._kid_counter}"
        self.signing_pem = new_rsa_pem()
        self._build_provider()

    def _build_provider(self) -> None:
        signing_key = JwkestRSAKey(key=CryptodomeRSA.import_key(self.signing_pem), alg="RS256", kid=self.kid)
        base = self.base_url
        configuration = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "cin"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "cin", "given_name", "family_name", "birthdate", "acr"],
        }
        clients = {
            CLIENT_ID: {
                "client_secret": CLIENT_SECRET,
                "redirect_uris": self.redirect_uris,
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            PKJWT_CLIENT_ID: {
                "redirect_uris": self.redirect_uris,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",  # the assertion is checked here, before pyop
            },
        }
        previous = getattr(self, "provider", None)
        state = (
            previous.authz_state
            if previous is not None
            else AuthorizationState(HashBasedSubjectIdentifierFactory("test-salt"))
        )
        self.provider = Provider(
            signing_key,
            configuration,
            state,
            clients,
            Userinfo({"user": self.user}),
            extra_scopes={"cin": ["cin"]},
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- HTTP --------------------------------------------------------------------------------

    @Request.application  # type: ignore[arg-type]
    def _wsgi(self, request: Request) -> Response:
        self.requests.append(request.path)
        if self.behaviour == "down":
            return Response("unavailable", status=500)
        if self.behaviour == "slow":
            time.sleep(self.delay)
        self.provider.userinfo = Userinfo({"user": dict(self.user)})
        routes = {
            "/.well-known/openid-configuration": self._discovery,
            "/jwks": self._jwks,
            "/authorize": self._authorize,
            "/token": self._token,
            "/userinfo": self._userinfo,
        }
        handler = routes.get(request.path)
        if handler is None:
            return Response("not found", status=404)
        return handler(request)

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, mimetype="application/json")

    def _discovery(self, _request: Request) -> Response:
        return self._json(self.provider.provider_configuration.to_dict())

    def _jwks(self, _request: Request) -> Response:
        return self._json(self.provider.jwks)

    def _authorize(self, request: Request) -> Response:
        try:
            auth_request = self.provider.parse_authentication_request(request.query_string.decode())
        except InvalidAuthenticationRequest as exc:
            return Response(f"bad request: {exc}", status=400)
        redirect_uri = auth_request["redirect_uri"]
        if self.behaviour == "cancel":
            query = urlencode({"error": "access_denied", "state": auth_request.get("state", "")})
            return Response(status=302, headers={"Location": f"{redirect_uri}?{query}"})
        response = self.provider.authorize(auth_request, "user")
        return Response(status=302, headers={"Location": response.request(redirect_uri, False)})

    def _token(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        form = {key: values[0] for key, values in parse_qs(body).items()}
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            if not self._assertion_ok(form.get("client_assertion", "")):
                return self._json({"error": "invalid_client"}, 401)
            form = {k: v for k, v in form.items() if not k.startswith("client_assertion")}
            form["client_id"] = PKJWT_CLIENT_ID
            body = urlencode(form)
        try:
            claims = {"acr": self.acr, "amr": ["pwd", "otp"], "auth_time": int(time.time())}
            answer = self.provider.handle_token_request(body, dict(request.headers), claims).to_dict()
        except InvalidClientAuthentication:
            return self._json({"error": "invalid_client"}, 401)
        except OAuthError as exc:
            return self._json({"error": exc.oauth_error, "error_description": str(exc)}, 400)
        if self.behaviour in {"forge", "wrong_audience", "expired", "wrong_nonce", "wrong_issuer"}:
            answer["id_token"] = self._tampered(answer["id_token"])
        return self._json(answer)

    def _userinfo(self, request: Request) -> Response:
        try:
            answer = self.provider.handle_userinfo_request(request.get_data(as_text=True), dict(request.headers))
        except OAuthError as exc:
            return self._json({"error": "invalid_token", "error_description": str(exc)}, 401)
        return self._json(answer.to_dict())

    # --- misbehaving -------------------------------------------------------------------------

    def _tampered(self, id_token: str) -> str:
        published = KeySet([RSAKey.import_key(self.signing_pem, {"kid": self.kid})])
        claims = dict(jwt.decode(id_token, published, algorithms=["RS256"]).claims)
        pem = self.signing_pem
        if self.behaviour == "forge":
            pem = self._rogue_pem  # never published, but under the published kid
            claims["cin"] = "ZZ999999"
        elif self.behaviour == "wrong_audience":
            claims["aud"] = "someone-else"
        elif self.behaviour == "expired":
            claims["iat"], claims["exp"] = int(time.time()) - 7200, int(time.time()) - 3600
        elif self.behaviour == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif self.behaviour == "wrong_issuer":
            claims["iss"] = "https://impostor.example"
        key = RSAKey.import_key(pem, {"kid": self.kid})
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, key)

    def _assertion_ok(self, assertion: str) -> bool:
        if self.client_private_key_pem is None:
            return False
        public = RSAKey.import_key(self.client_private_key_pem)
        try:
            token = jwt.decode(assertion, public, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": PKJWT_CLIENT_ID},
                sub={"essential": True, "value": PKJWT_CLIENT_ID},
                aud={"essential": True, "value": f"{self.base_url}/token"},
                exp={"essential": True},
            ).validate(token.claims)
        except Exception:
            return False
        return True


def provider_settings(op: LocalIdentityProvider, **overrides: Any) -> dict[str, Any]:
    """The IDENTITY_PROVIDERS entry for the test provider."""
    entry: dict[str, Any] = {
        "name": "dgsn",
        "label": "Identité numérique DGSN",
        "issuer": op.base_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "profile", "cin"],
        "claims": {"cin": "cin", "birth_date": "birthdate"},
        "acr_values": ["urn:dgsn:loa:substantial"],
        "levels": {"urn:dgsn:loa:low": "low", "urn:dgsn:loa:substantial": "substantial", "urn:dgsn:loa:high": "high"},
        "minimum_level": "substantial",
    }
    entry.update(overrides)
    return entry

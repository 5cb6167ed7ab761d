"""An OpenID Connect relying party for national digital identity providers (issue 19).

Knows nothing of letters: it sends a browser to a provider (authorization code flow with PKCE,
`state` and `nonce`) and turns the provider's answer into a checked identity.  Authlib's OAuth 2.0
client builds the authorization request and talks to the token endpoint (client secret or
`private_key_jwt`); joserfc (Authlib's JOSE library) checks the ID token: its signature against the
provider's published keys, `iss`, `aud` (and `azp`), `exp`, `iat` and the `nonce` we sent.

Discovery documents and key sets are cached per process for `EID_CACHE_TTL` seconds; a token signed
with a key we do not know makes us fetch the key set again (a provider rotating its keys), at most
once every `JWKS_REFRESH_INTERVAL` seconds (a forger naming random keys cannot make us hammer it).
Every call to a provider has a timeout (`EID_TIMEOUT`): a provider down or slow is
`ProviderUnavailable`, a response that does not check is `InvalidIdentityResponse`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from webapp.config import IdentityProvider

# Asymmetric algorithms only: a symmetric one would let anyone holding the client secret forge tokens.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
JWKS_REFRESH_INTERVAL = 60.0
CLOCK_LEEWAY = 60  # seconds of clock difference tolerated on exp / iat


class ProviderUnavailable(Exception):
    """The identity provider did not answer in time, or answered with an error page."""


class InvalidIdentityResponse(Exception):
    """The provider's answer does not check (signature, issuer, audience, expiry, nonce, …); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the browser, and the secrets to keep for the way back (server-side)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class ProvenIdentity:
    """What the provider vouched for, after every check."""

    issuer: str
    subject: str
    acr: str | None
    amr: tuple[str, ...]
    auth_time: int | None
    claims: dict[str, Any]  # the ID token's claims, completed by the userinfo endpoint's
    id_token_sha256: str  # the token we checked, by its hash (the token itself holds personal data)


class _Cache:
    """Discovery documents and key sets by URL, each with the time it was fetched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, url: str, max_age: float) -> Any | None:
        with self._lock:
            entry = self._entries.get(url)
        if entry is None or time.monotonic() - entry[0] > max_age:
            return None
        return entry[1]

    def put(self, url: str, value: Any) -> None:
        with self._lock:
            self._entries[url] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = _Cache()


def hash_state(state: str) -> str:
    """How a `state` is stored: only its hash, so the table does not hold live callbacks."""
    return hashlib.sha256(state.encode()).hexdigest()


def _get_json(url: str, timeout: float, verify: str | bool) -> dict[str, Any]:
    try:
        response = requests.get(
            url, timeout=timeout, allow_redirects=False, headers={"Accept": "application/json"}, verify=verify
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise ProviderUnavailable(f"{url}: HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"{url}: not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{url}: not a JSON object")
    return data


def metadata(
    provider: IdentityProvider, *, timeout: float, cache_ttl: float, verify: str | bool = True
) -> dict[str, Any]:
    """The provider's discovery document (OpenID Connect Discovery 1.0), cached."""
    cached = CACHE.get(provider.discovery_url, cache_ttl)
    if cached is not None:
        return dict(cached)
    document = _get_json(provider.discovery_url, timeout, verify)
    if str(document.get("issuer", "")).rstrip("/") != provider.issuer:
        # Discovery §4.3: the issuer in the document must be the one configured (mix-up attacks).
        raise ProviderUnavailable(
            f"{provider.discovery_url}: issuer {document.get('issuer')!r} is not the configured one"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise ProviderUnavailable(f"{provider.discovery_url}: no {key}")
    CACHE.put(provider.discovery_url, document)
    return dict(document)


def key_set(
    jwks_uri: str, *, timeout: float, cache_ttl: float, refresh: bool = False, verify: str | bool = True
) -> KeySet:
    """The provider's signing keys, cached.  `refresh` (a token names a key we do not know) fetches them
    again, at most once every `JWKS_REFRESH_INTERVAL` seconds per provider."""
    cached = CACHE.get(jwks_uri, cache_ttl)
    if cached is not None and refresh:
        last = CACHE.get("refresh:" + jwks_uri, JWKS_REFRESH_INTERVAL)
        if last is not None:
            return cached  # type: ignore[no-any-return]
        CACHE.put("refresh:" + jwks_uri, True)
    elif cached is not None:
        return cached  # type: ignore[no-any-return]
    document = _get_json(jwks_uri, timeout, verify)
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ProviderUnavailable(f"{jwks_uri}: not a key set") from exc
    CACHE.put(jwks_uri, keys)
    return keys


def _session(
    provider: IdentityProvider, redirect_uri: str, timeout: float, token_endpoint: str, verify: str | bool
) -> OAuth2Session:
    private = provider.token_auth_method == "private_key_jwt"  # noqa: S105 - a method name
    session = OAuth2Session(
        client_id=provider.client_id,
        client_secret=provider.private_key if private else provider.client_secret,
        token_endpoint_auth_method=provider.token_auth_method,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=timeout,
    )
    session.verify = verify
    if private:
        headers = {"kid": provider.private_key_id} if provider.private_key_id else None
        session.register_client_auth_method(PrivateKeyJWT(token_endpoint, headers=headers))
    return session


def start_authorization(
    provider: IdentityProvider,
    redirect_uri: str,
    *,
    timeout: float,
    cache_ttl: float,
    ui_locales: str | None = None,
    verify: str | bool = True,
) -> AuthorizationStart:
    """The URL to send the browser to, with a fresh `state`, `nonce` and PKCE verifier."""
    document = metadata(provider, timeout=timeout, cache_ttl=cache_ttl, verify=verify)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    extra: dict[str, str] = {"nonce": nonce}
    if provider.acr_values:
        extra["acr_values"] = " ".join(provider.acr_values)
    if ui_locales:
        extra["ui_locales"] = ui_locales
    session = _session(provider, redirect_uri, timeout, document["token_endpoint"], verify)
    url, _ = session.create_authorization_url(
        document["authorization_endpoint"], state=state, code_verifier=verifier, **extra
    )
    return AuthorizationStart(url=url, state=state, nonce=nonce, code_verifier=verifier)


def complete_authorization(
    provider: IdentityProvider,
    redirect_uri: str,
    *,
    code: str,
    code_verifier: str,
    nonce: str,
    timeout: float,
    cache_ttl: float,
    verify: str | bool = True,
) -> ProvenIdentity:
    """Exchanges the code (with the PKCE verifier) and checks the ID token; raises on anything wrong."""
    document = metadata(provider, timeout=timeout, cache_ttl=cache_ttl, verify=verify)
    session = _session(provider, redirect_uri, timeout, document["token_endpoint"], verify)
    try:
        token = session.fetch_token(
            document["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            timeout=timeout,
            verify=verify,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from exc
    except Exception as exc:
        # The provider refused the code: used already, expired, or not issued to us.
        raise InvalidIdentityResponse("token_refused") from exc
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise InvalidIdentityResponse("no_id_token")
    claims = verify_id_token(
        provider, document, id_token, nonce=nonce, timeout=timeout, cache_ttl=cache_ttl, verify=verify
    )
    userinfo_endpoint = document.get("userinfo_endpoint")
    access_token = token.get("access_token")
    if isinstance(userinfo_endpoint, str) and isinstance(access_token, str):
        claims = _with_userinfo(claims, userinfo_endpoint, access_token, timeout, verify)
    amr = claims.get("amr")
    return ProvenIdentity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        acr=str(claims["acr"]) if isinstance(claims.get("acr"), str) else None,
        amr=tuple(str(method) for method in amr) if isinstance(amr, list) else (),
        auth_time=claims.get("auth_time") if isinstance(claims.get("auth_time"), int) else None,
        claims=claims,
        id_token_sha256=hashlib.sha256(id_token.encode()).hexdigest(),
    )


def verify_id_token(
    provider: IdentityProvider,
    document: dict[str, Any],
    id_token: str,
    *,
    nonce: str,
    timeout: float,
    cache_ttl: float,
    verify: str | bool = True,
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, times and nonce check (Core §3.1.3.7)."""
    header = _protected_header(id_token)
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise InvalidIdentityResponse("algorithm_refused")
    jwks_uri = document["jwks_uri"]
    keys = key_set(jwks_uri, timeout=timeout, cache_ttl=cache_ttl, verify=verify)
    kid = header.get("kid")
    if kid is not None and all(key.kid != kid for key in keys.keys):
        keys = key_set(jwks_uri, timeout=timeout, cache_ttl=cache_ttl, refresh=True, verify=verify)  # rotated
        if all(key.kid != kid for key in keys.keys):
            raise InvalidIdentityResponse("unknown_signing_key")
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALLOWED_ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise InvalidIdentityResponse("bad_signature") from exc
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": provider.issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise InvalidIdentityResponse("wrong_audience")
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise InvalidIdentityResponse("wrong_authorized_party")
    try:
        registry.validate(claims)
    except JoseError as exc:
        name = getattr(exc, "claim", "") or ""
        reason = {"exp": "expired", "iat": "issued_in_future", "iss": "wrong_issuer", "nonce": "wrong_nonce"}.get(
            name, "invalid_claims"
        )
        if type(exc).__name__ == "ExpiredTokenError":
            reason = "expired"
        raise InvalidIdentityResponse(reason) from exc
    return claims


def _protected_header(token: str) -> dict[str, Any]:
    """A compact JWS's header, read before choosing its key (never trusted for anything else)."""
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, IndexError) as exc:
        raise InvalidIdentityResponse("malformed_id_token") from exc
    if not isinstance(header, dict) or token.count(".") != 2:
        raise InvalidIdentityResponse("malformed_id_token")
    return header


def _with_userinfo(
    claims: dict[str, Any], endpoint: str, access_token: str, timeout: float, verify: str | bool
) -> dict[str, Any]:
    """The ID token's claims completed by the userinfo endpoint's, which must be about the same subject."""
    try:
        response = requests.get(
            endpoint,
            timeout=timeout,
            allow_redirects=False,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            verify=verify,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"userinfo: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise ProviderUnavailable(f"userinfo: HTTP {response.status_code}")
    try:
        info = response.json()
    except ValueError as exc:
        raise InvalidIdentityResponse("userinfo_not_json") from exc
    if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
        # Core §5.3.2: a userinfo answer about another subject must not be used.
        raise InvalidIdentityResponse("userinfo_subject_mismatch")
    protected = {"iss", "sub", "aud", "exp", "iat", "nonce", "azp", "acr", "amr", "auth_time"}
    return claims | {key: value for key, value in info.items() if key not in protected}

"""Typed settings read from the environment.

Every setting has a safe default for the embedded setup (`make run`): SQLite
and generated secrets under `instance/`, console providers.  Production sets
them through the environment (see README, "Deploying for real").
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import formataddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from limits import parse as parse_limit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

DAY = 24 * 3600


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the app refuses to start."""


# Our timestamping policy's identifier, the default of TSA_POLICY_OID (see `webapp.trust.policy` for why
# it is built so).  Generated once with uuid.uuid4() for the Wassit timestamping policy; do not change:
# tokens already issued name it.  Here, at the bottom of the imports, because a setting's default is.
POLICY_UUID = UUID("bcf74be5-7ad6-43bc-a62f-4e09cb176819")

# 2.25.<the UUID read as one unsigned 128-bit integer>, as X.667 §6.3 prescribes.
DEFAULT_POLICY_OID = f"2.25.{POLICY_UUID.int}"

_DOTTED = re.compile(r"^(0|1|2)(\.(0|[1-9][0-9]*))+$")


def is_dotted_oid(value: str) -> bool:
    """True for an object identifier in dotted decimal form that DER can encode.

    At least two arcs; the first is 0, 1 or 2; under 0 and 1 the second is at
    most 39 (X.690 §8.19.4); no leading zeros.
    """
    if not _DOTTED.match(value):
        return False
    first, second = (int(arc) for arc in value.split(".")[:2])
    return first == 2 or second <= 39


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean, got {raw!r}")


def _env_str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else raw


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


def _read_or_create_secret(path: Path, make: Any) -> str:
    """Reads a generated secret from `instance/`, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value: str = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


# Assurance levels an `acr` value may mean, weakest first (eIDAS art. 8 names; a national scheme maps onto them).
ASSURANCE_LEVELS = ("low", "substantial", "high")
# Claims a provider may carry, our name → the provider's claim by default (OpenID Connect Core §5.1).
DEFAULT_IDENTITY_CLAIMS: Mapping[str, str] = {
    "cin": "cin",
    "given_name": "given_name",
    "family_name": "family_name",
    "name": "name",
    "birth_date": "birthdate",
}
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


@dataclass(frozen=True)
class IdentityProvider:
    """One OpenID Connect provider of national digital identity (DGSN, FranceConnect, …), from
    `IDENTITY_PROVIDERS`.  Its endpoints come from its discovery document; everything else is here."""

    name: str  # our key for it: in URLs, evidence records and proofs ("dgsn")
    label: str  # what recipients read on the button ("Identité numérique DGSN")
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    # private_key_jwt: the client's private key (PEM) and the `kid` the provider knows it by.
    private_key: str = field(default="", repr=False)
    private_key_id: str = ""
    token_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    scopes: tuple[str, ...] = ("openid", "profile")
    claims: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_IDENTITY_CLAIMS))
    # `acr` values asked for (the `acr_values` parameter), and what each value the provider answers means.
    acr_values: tuple[str, ...] = ()
    levels: Mapping[str, str] = field(default_factory=dict)
    # Identifications below this level are refused (None: any level the provider answers).
    minimum_level: str | None = None

    def level_of(self, acr: str | None) -> str | None:
        """What the provider's `acr` means, one of `ASSURANCE_LEVELS`; None when unknown."""
        return self.levels.get(acr) if acr else None


def _is_loopback_url(url: str) -> bool:
    return (urlsplit(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def _provider_secret(entry: Mapping[str, Any], key: str, where: str) -> str:
    """A secret given inline, from another variable (`<key>_env`), or from a file (`<key>_file`)."""
    if entry.get(f"{key}_env"):
        return os.environ.get(str(entry[f"{key}_env"]), "")
    if entry.get(f"{key}_file"):
        try:
            return Path(str(entry[f"{key}_file"])).read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {key}_file: {exc.strerror}") from exc
    return str(entry.get(key) or "")


def parse_identity_providers(raw: str) -> tuple[IdentityProvider, ...]:
    """`IDENTITY_PROVIDERS`: JSON (a list of providers, or an object keyed by their names), or `@path` of
    a JSON file.  Refuses, at start-up, anything a login would trip on later."""
    text = raw.strip()
    if not text:
        return ()
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise ConfigError(f"IDENTITY_PROVIDERS: cannot read {text[1:]}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"IDENTITY_PROVIDERS must be JSON: {exc}") from exc
    if isinstance(data, dict):
        data = [{"name": name, **entry} if isinstance(entry, dict) else entry for name, entry in data.items()]
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise ConfigError("IDENTITY_PROVIDERS must be a list of providers, or an object of providers by name")
    providers = [_identity_provider(entry) for entry in data]
    names = [provider.name for provider in providers]
    if len(set(names)) != len(names):
        raise ConfigError("IDENTITY_PROVIDERS: two providers have the same name")
    return tuple(providers)


def _identity_provider(entry: Mapping[str, Any]) -> IdentityProvider:
    name = str(entry.get("name") or "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", name):
        raise ConfigError(f"IDENTITY_PROVIDERS: name {name!r} must be 1-32 lower-case letters, digits, - or _")
    where = f"IDENTITY_PROVIDERS[{name}]"
    issuer = str(entry.get("issuer") or "").rstrip("/")
    discovery = str(entry.get("discovery_url") or (issuer + "/.well-known/openid-configuration" if issuer else ""))
    if not issuer or not entry.get("client_id"):
        raise ConfigError(f"{where}: issuer and client_id are required")
    for url in (issuer, discovery):
        # Identity travels over these: TLS, except to a provider on this machine (tests, development).
        if not (url.startswith("https://") or (url.startswith("http://") and _is_loopback_url(url))):
            raise ConfigError(f"{where}: {url!r} must be an https:// URL")
    method = str(entry.get("token_auth_method") or "")
    secret = _provider_secret(entry, "client_secret", where)
    private_key = _provider_secret(entry, "private_key", where)
    method = method or ("private_key_jwt" if private_key else "client_secret_basic")
    if method not in TOKEN_AUTH_METHODS:
        raise ConfigError(f"{where}: token_auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}")
    if method == "private_key_jwt" and "PRIVATE KEY" not in private_key:
        raise ConfigError(f"{where}: private_key_jwt needs private_key (PEM), private_key_file or private_key_env")
    if method != "private_key_jwt" and not secret:
        raise ConfigError(f"{where}: {method} needs client_secret, client_secret_file or client_secret_env")
    scopes = tuple(str(scope) for scope in entry.get("scopes") or ("openid", "profile"))
    if "openid" not in scopes:
        raise ConfigError(f"{where}: scopes must include openid")
    claims = dict(DEFAULT_IDENTITY_CLAIMS)
    for key, value in dict(entry.get("claims") or {}).items():
        if key not in DEFAULT_IDENTITY_CLAIMS or not isinstance(value, str):
            raise ConfigError(f"{where}: claims maps {', '.join(DEFAULT_IDENTITY_CLAIMS)} to the provider's names")
        claims[key] = value
    levels = {str(acr): str(level) for acr, level in dict(entry.get("levels") or {}).items()}
    minimum = entry.get("minimum_level")
    if any(level not in ASSURANCE_LEVELS for level in levels.values()) or (
        minimum is not None and minimum not in ASSURANCE_LEVELS
    ):
        raise ConfigError(f"{where}: levels and minimum_level are one of {', '.join(ASSURANCE_LEVELS)}")
    return IdentityProvider(
        name=name,
        label=str(entry.get("label") or name),
        issuer=issuer,
        discovery_url=discovery,
        client_id=str(entry["client_id"]),
        client_secret=secret,
        private_key=private_key,
        private_key_id=str(entry.get("private_key_id") or ""),
        token_auth_method=method,
        scopes=scopes,
        claims=claims,
        acr_values=tuple(str(value) for value in entry.get("acr_values") or ()),
        levels=levels,
        minimum_level=minimum,
    )


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, parsed once at start-up."""

    instance_path: Path = DEFAULT_INSTANCE_PATH
    secret_key: str = ""
    database_url: str = ""
    redis_url: str | None = None
    master_key: bytes = b""
    # Earlier master keys, kept to read (and re-wrap) data keys they wrapped until a rotation is done.
    old_master_keys: tuple[bytes, ...] = ()
    public_url: str = "http://localhost:5000"
    service_name: str = "Wassit"
    support_contact: str = "support@wassit.ma"
    # Optional: a support telephone number (shown as a `tel:` link) and a WhatsApp number (a wa.me link).
    support_phone: str = ""
    support_whatsapp: str = ""

    sms_provider: str = "console"
    sms_outbox: Path = DEFAULT_INSTANCE_PATH / "sms-outbox.jsonl"
    sms_sender_id: str = "Wassit"
    sms_timeout: int = 10
    sms_max_attempts: int = 8
    show_sender_in_sms: bool = False
    vonage_api_key: str = ""
    vonage_api_secret: str = ""
    # Signed delivery receipts (POST /webhooks/vonage/dlr): HMAC-SHA256 secret, and how old
    # (or how far in the future) a receipt's signed timestamp may be.
    vonage_signature_secret: str = ""
    vonage_signature_max_age: int = 300

    email_provider: str = "console"
    email_outbox: Path | None = None  # default: instance_path / "email-outbox.jsonl"
    email_from: str = ""  # default: "<service name> <no-reply@<PUBLIC_URL's host>>"
    smtp_url: str = ""
    smtp_timeout: int = 20
    smtp_ca_file: Path | None = None
    email_max_attempts: int = 8

    # Reminders to recipients who have not identified yet: days after the notification.
    reminder_days: tuple[int, ...] = (3, 7, 12)

    acceptance_period: int = 15 * DAY
    max_document_bytes: int = 10 * 1024 * 1024
    code_ttl: int = 600
    code_max_attempts: int = 5
    codes_per_window: int = 3
    code_window: int = 900
    # Throttling of wrong codes (NIST SP 800-63B-4 §3.2.2; see README "Wrong codes"): so many wrong
    # codes in a row are free, then each one makes the next check wait, twice as long each time,
    # from `code_wait_base` seconds up to `code_wait_max`.  Never a permanent lock.
    code_free_failures: int = 5
    code_wait_base: int = 30
    code_wait_max: int = 3600
    recipient_session_ttl: int = 1800
    # A support console session ends after this many minutes without a request.
    support_idle_minutes: int = 15
    default_language: str = "fr"
    session_cookie_secure: bool = False
    # Reverse proxies in front of the app whose X-Forwarded-For / X-Forwarded-Proto we believe
    # (Werkzeug's ProxyFix): the client address recorded as evidence and used by rate limits.
    # 0: none, the address is the connecting peer's (never trust headers nobody vouches for).
    trusted_proxies: int = 0
    queue_name: str = "default"
    # Trust material: nothing set means a local CA generated under instance/trust.
    trust_dir: Path | None = None  # default: instance_path / "trust"
    seal_cert: Path | None = None
    seal_key: Path | None = None
    seal_pkcs12: Path | None = None
    seal_key_passphrase: str | None = None
    # Or the seal key in a PKCS#11 token (an HSM): the module (.so), the token's label, the key's label,
    # the user PIN; the certificate (and chain) still come from SEAL_CERT.
    seal_pkcs11_module: str = ""
    seal_pkcs11_token: str = ""
    seal_pkcs11_key: str = ""
    seal_pkcs11_pin: str = ""
    # The built-in TSA's key in the same token (its certificate from TSA_CERT).
    tsa_pkcs11_key: str = ""
    # The journal's Ed25519 checkpoint key in the same token (instead of JOURNAL_KEY).
    journal_pkcs11_key: str = ""
    trust_root_cert: Path | None = None
    tsa_url: str | None = None
    tsa_cert: Path | None = None
    tsa_key: Path | None = None
    tsa_key_passphrase: str | None = None
    tsa_timeout: int = 10
    # The policy our built-in TSA names in its tokens (a 2.25 UUID OID of ours by default).
    tsa_policy_oid: str = DEFAULT_POLICY_OID
    # Trust anchor(s) of an external TSA (TSA_URL) that does not chain to TRUST_ROOT_CERT.
    tsa_root_cert: Path | None = None
    # Stored proofs get a new archive timestamp this many days before their last one's TSA certificate expires.
    archive_renewal_margin_days: int = 365
    service_legal_name: str = "Wassit SARL"
    proof_retention_years: int = 10
    # PostgreSQL connections per process: the pool, and how many more a burst may open.  Size it so that
    # (web processes × threads + workers) × (pool + overflow) stays under the server's max_connections.
    db_pool_size: int = 5
    db_max_overflow: int = 10
    # A letter's document is deleted this many years after the letter's final state (unless held).
    document_retention_years: int = 10
    # Where documents, proofs and batch files are stored: "" (instance/objects), file:///path, s3://bucket/prefix.
    storage_url: str = ""
    storage_endpoint_url: str = ""  # an S3-compatible endpoint other than AWS's
    storage_region: str = ""
    # Credentials of the store (else boto3's usual chain: AWS_ACCESS_KEY_ID, roles, …).
    storage_access_key_id: str = ""
    storage_secret_access_key: str = ""
    # Seconds between two checkpoints of the evidence journal's transparency log while records
    # are added (a proof that needs one sooner makes it at once).
    checkpoint_interval: int = 5
    # The origin line of our checkpoints and the name of their signing key; default
    # "<host of PUBLIC_URL>/journal".  The key: an Ed25519 PEM file (default: created in TRUST_DIR).
    journal_origin: str = ""
    journal_key: Path | None = None
    # Outgoing webhooks: private and loopback hosts are refused unless allowed (tests, development).
    webhook_allow_private: bool = False
    webhook_timeout: int = 10
    # The JSON API's limits, per token and per organisation (never per address): `limits` notation.
    api_token_rate_limit: str = "6000/minute"  # noqa: S105 - a rate, not a secret
    api_organisation_rate_limit: str = "12000/minute"
    # Bearer token of `GET /metrics` (Prometheus); unset: /metrics answers 404.
    metrics_token: str = ""
    # Identification by national digital identity (OpenID Connect): the providers, how long one call
    # to a provider may take, how long a recipient may stay at the provider, how many failed
    # identifications lock the letter, and how long discovery documents and keys are kept.
    identity_providers: tuple[IdentityProvider, ...] = ()
    eid_timeout: int = 10
    eid_attempt_ttl: int = 900
    eid_max_failures: int = 5
    eid_cache_ttl: int = 3600
    # PEM file of the CAs the providers' TLS certificates are checked against (default: the system's).
    eid_ca_file: Path | None = None

    @property
    def eid_tls_verify(self) -> str | bool:
        return str(self.eid_ca_file) if self.eid_ca_file else True

    def identity_provider(self, name: str) -> IdentityProvider | None:
        return next((provider for provider in self.identity_providers if provider.name == name), None)

    @classmethod
    def from_env(cls) -> Settings:
        instance = Path(_env_str("INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH))).resolve()
        public_url = _env_str("PUBLIC_URL", f"http://localhost:{_env_int('PORT', 5000)}")
        secret_key = os.environ.get("SECRET_KEY") or _read_or_create_secret(
            instance / "secret_key", lambda: secrets.token_urlsafe(48)
        )
        master_b64 = os.environ.get("MASTER_KEY") or _read_or_create_secret(
            instance / "master.key", lambda: base64.b64encode(secrets.token_bytes(32)).decode()
        )
        settings = cls(
            instance_path=instance,
            secret_key=secret_key,
            database_url=normalise_database_url(_env_str("DATABASE_URL", f"sqlite:///{instance / 'wassit.db'}")),
            redis_url=os.environ.get("REDIS_URL") or None,
            master_key=_decode_master_key(master_b64),
            public_url=public_url.rstrip("/"),
            service_name=_env_str("SERVICE_NAME", cls.service_name),
            support_contact=_env_str("SUPPORT_CONTACT", cls.support_contact),
            sms_provider=_env_str("SMS_PROVIDER", cls.sms_provider),
            sms_outbox=Path(_env_str("SMS_OUTBOX", str(instance / "sms-outbox.jsonl"))),
            sms_sender_id=_env_str("SMS_SENDER_ID", cls.sms_sender_id),
            sms_timeout=_env_int("SMS_TIMEOUT", cls.sms_timeout),
            sms_max_attempts=_env_int("SMS_MAX_ATTEMPTS", cls.sms_max_attempts),
            show_sender_in_sms=_env_bool("SHOW_SENDER_IN_SMS", cls.show_sender_in_sms),
            vonage_api_key=_env_str("VONAGE_API_KEY", ""),
            vonage_api_secret=_env_str("VONAGE_API_SECRET", ""),
            vonage_signature_secret=_env_str("VONAGE_SIGNATURE_SECRET", ""),
            vonage_signature_max_age=_env_int("VONAGE_SIGNATURE_MAX_AGE", cls.vonage_signature_max_age),
            email_provider=_env_str("EMAIL_PROVIDER", cls.email_provider),
            email_outbox=Path(_env_str("EMAIL_OUTBOX", str(instance / "email-outbox.jsonl"))),
            email_from=_env_str("EMAIL_FROM", ""),
            smtp_url=_env_str("SMTP_URL", ""),
            smtp_timeout=_env_int("SMTP_TIMEOUT", cls.smtp_timeout),
            smtp_ca_file=_env_path("SMTP_CA_FILE"),
            email_max_attempts=_env_int("EMAIL_MAX_ATTEMPTS", cls.email_max_attempts),
            reminder_days=parse_reminder_days(_env_str("REMINDER_DAYS", "3,7,12")),
            acceptance_period=_env_int("ACCEPTANCE_PERIOD", cls.acceptance_period),
            max_document_bytes=_env_int("MAX_DOCUMENT_BYTES", cls.max_document_bytes),
            code_ttl=_env_int("CODE_TTL", cls.code_ttl),
            code_free_failures=_env_int("CODE_FREE_FAILURES", cls.code_free_failures),
            code_wait_max=_env_int("CODE_WAIT_MAX", cls.code_wait_max),
            support_phone=_env_str("SUPPORT_PHONE", ""),
            support_whatsapp=_env_str("SUPPORT_WHATSAPP", ""),
            support_idle_minutes=_env_int("SUPPORT_IDLE_MINUTES", cls.support_idle_minutes),
            trust_dir=_env_path("TRUST_DIR"),
            seal_cert=_env_path("SEAL_CERT"),
            seal_key=_env_path("SEAL_KEY"),
            seal_pkcs12=_env_path("SEAL_PKCS12"),
            seal_key_passphrase=os.environ.get("SEAL_KEY_PASSPHRASE") or None,
            seal_pkcs11_module=_env_str("SEAL_PKCS11_MODULE", ""),
            seal_pkcs11_token=_env_str("SEAL_PKCS11_TOKEN", ""),
            seal_pkcs11_key=_env_str("SEAL_PKCS11_KEY", ""),
            seal_pkcs11_pin=_env_str("SEAL_PKCS11_PIN", ""),
            tsa_pkcs11_key=_env_str("TSA_PKCS11_KEY", ""),
            journal_pkcs11_key=_env_str("JOURNAL_PKCS11_KEY", ""),
            trust_root_cert=_env_path("TRUST_ROOT_CERT"),
            tsa_url=os.environ.get("TSA_URL") or None,
            tsa_cert=_env_path("TSA_CERT"),
            tsa_key=_env_path("TSA_KEY"),
            tsa_key_passphrase=os.environ.get("TSA_KEY_PASSPHRASE") or None,
            tsa_timeout=_env_int("TSA_TIMEOUT", cls.tsa_timeout),
            tsa_policy_oid=_env_str("TSA_POLICY_OID", cls.tsa_policy_oid),
            tsa_root_cert=_env_path("TSA_ROOT_CERT"),
            archive_renewal_margin_days=_env_int("ARCHIVE_RENEWAL_MARGIN_DAYS", cls.archive_renewal_margin_days),
            service_legal_name=_env_str("SERVICE_LEGAL_NAME", cls.service_legal_name),
            proof_retention_years=_env_int("PROOF_RETENTION_YEARS", cls.proof_retention_years),
            db_pool_size=_env_int("DB_POOL_SIZE", cls.db_pool_size),
            db_max_overflow=_env_int("DB_MAX_OVERFLOW", cls.db_max_overflow),
            document_retention_years=_env_int("DOCUMENT_RETENTION_YEARS", cls.document_retention_years),
            storage_url=_env_str("STORAGE_URL", ""),
            storage_endpoint_url=_env_str("STORAGE_ENDPOINT_URL", _env_str("AWS_ENDPOINT_URL_S3", "")),
            storage_region=_env_str("STORAGE_REGION", _env_str("AWS_REGION", "")),
            storage_access_key_id=_env_str("STORAGE_ACCESS_KEY_ID", ""),
            storage_secret_access_key=_env_str("STORAGE_SECRET_ACCESS_KEY", ""),
            old_master_keys=tuple(
                _decode_master_key(part) for part in _env_str("MASTER_KEYS", "").replace(" ", "").split(",") if part
            )
            + (() if os.environ.get("MASTER_KEY") else old_master_key_files(instance)),
            checkpoint_interval=_env_int("CHECKPOINT_INTERVAL", cls.checkpoint_interval),
            journal_origin=_env_str("JOURNAL_ORIGIN", ""),
            journal_key=_env_path("JOURNAL_KEY"),
            webhook_allow_private=_env_bool("WEBHOOK_ALLOW_PRIVATE", cls.webhook_allow_private),
            webhook_timeout=_env_int("WEBHOOK_TIMEOUT", cls.webhook_timeout),
            metrics_token=_env_str("METRICS_TOKEN", ""),
            api_token_rate_limit=_env_str("API_TOKEN_RATE_LIMIT", cls.api_token_rate_limit),
            api_organisation_rate_limit=_env_str("API_ORGANISATION_RATE_LIMIT", cls.api_organisation_rate_limit),
            session_cookie_secure=_env_bool("SESSION_COOKIE_SECURE", public_url.startswith("https://")),
            trusted_proxies=_env_int("TRUSTED_PROXIES", cls.trusted_proxies),
            identity_providers=parse_identity_providers(_env_str("IDENTITY_PROVIDERS", "")),
            eid_timeout=_env_int("EID_TIMEOUT", cls.eid_timeout),
            eid_attempt_ttl=_env_int("EID_ATTEMPT_TTL", cls.eid_attempt_ttl),
            eid_max_failures=_env_int("EID_MAX_FAILURES", cls.eid_max_failures),
            eid_cache_ttl=_env_int("EID_CACHE_TTL", cls.eid_cache_ttl),
            eid_ca_file=_env_path("EID_CA_FILE"),
        )
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (tests use it)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    @property
    def trust_directory(self) -> Path:
        return self.trust_dir or self.instance_path / "trust"

    @property
    def journal_name(self) -> str:
        """The journal's origin line, which is also the name its checkpoints are signed under."""
        if self.journal_origin:
            return self.journal_origin
        parts = urlsplit(self.public_url)
        return f"{parts.netloc}{parts.path.rstrip('/')}/journal"

    def validate(self) -> None:
        if len(self.master_key) != 32:
            raise ConfigError("MASTER_KEY must be 32 bytes, base64-encoded")
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("PUBLIC_URL must start with http:// or https://")
        if self.code_ttl > 600:
            raise ConfigError("CODE_TTL may not exceed 600 seconds")
        if not 1 <= self.code_free_failures <= 100:
            raise ConfigError("CODE_FREE_FAILURES must be between 1 and 100")
        if not self.code_wait_base <= self.code_wait_max <= 24 * 3600:
            raise ConfigError("CODE_WAIT_MAX must be between 30 seconds and a day")
        for name, number in (("SUPPORT_PHONE", self.support_phone), ("SUPPORT_WHATSAPP", self.support_whatsapp)):
            if number and not re.fullmatch(r"\+[1-9][0-9 ]{6,18}", number):
                raise ConfigError(f"{name} must be an international number such as +212 5 22 00 00 00")
        if self.acceptance_period <= 0:
            raise ConfigError("ACCEPTANCE_PERIOD must be positive")
        if self.tsa_url is not None and not self.tsa_url.startswith(("http://", "https://")):
            raise ConfigError("TSA_URL must be an http(s) URL")
        for name, value in (
            ("API_TOKEN_RATE_LIMIT", self.api_token_rate_limit),
            ("API_ORGANISATION_RATE_LIMIT", self.api_organisation_rate_limit),
        ):
            try:
                parse_limit(value)
            except ValueError as exc:
                raise ConfigError(f"{name} must read like '6000/minute', got {value!r}") from exc
        if self.checkpoint_interval < 0:
            raise ConfigError("CHECKPOINT_INTERVAL must be zero or more seconds")
        if any(ch.isspace() or ch == "+" for ch in self.journal_name):
            raise ConfigError("JOURNAL_ORIGIN may not contain spaces or '+'")
        if not is_dotted_oid(self.tsa_policy_oid):
            raise ConfigError(f"TSA_POLICY_OID must be a dotted object identifier, got {self.tsa_policy_oid!r}")
        if not 30 <= self.archive_renewal_margin_days <= 5 * 365:
            raise ConfigError("ARCHIVE_RENEWAL_MARGIN_DAYS must be between 30 and 1825 days")
        if self.proof_retention_years < 1:
            raise ConfigError("PROOF_RETENTION_YEARS must be at least 1")
        if self.seal_pkcs11_module and not (self.seal_pkcs11_token and self.seal_pkcs11_key and self.seal_cert):
            raise ConfigError("SEAL_PKCS11_MODULE needs SEAL_PKCS11_TOKEN, SEAL_PKCS11_KEY and SEAL_CERT")
        if self.db_pool_size < 1 or self.db_max_overflow < 0:
            raise ConfigError("DB_POOL_SIZE must be at least 1 and DB_MAX_OVERFLOW at least 0")
        if self.document_retention_years < 1:
            raise ConfigError("DOCUMENT_RETENTION_YEARS must be at least 1")
        if any(len(key) != 32 for key in self.old_master_keys):
            raise ConfigError("MASTER_KEYS must list base64 keys of 32 bytes, separated by commas")
        if self.storage_url and not self.storage_url.startswith(("s3://", "file:///")):
            raise ConfigError("STORAGE_URL must be s3://bucket/prefix or file:///absolute/path")
        if self.storage_url.startswith("s3://") and not urlsplit(self.storage_url).netloc:
            raise ConfigError("STORAGE_URL must name a bucket: s3://bucket/prefix")
        if self.sms_provider == "vonage" and not (self.vonage_api_key and self.vonage_api_secret):
            raise ConfigError("SMS_PROVIDER=vonage needs VONAGE_API_KEY and VONAGE_API_SECRET")
        if self.vonage_signature_max_age <= 0:
            raise ConfigError("VONAGE_SIGNATURE_MAX_AGE must be positive")
        if self.email_provider == "smtp" and not self.smtp_url:
            raise ConfigError("EMAIL_PROVIDER=smtp needs SMTP_URL (smtp://user:password@host:587)")
        if self.metrics_token and len(self.metrics_token) < 24:
            raise ConfigError("METRICS_TOKEN must be at least 24 characters (e.g. `openssl rand -hex 24`)")
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError("TRUSTED_PROXIES must be the number of reverse proxies in front of the app, 0 to 5")
        if self.smtp_timeout <= 0:
            raise ConfigError("SMTP_TIMEOUT must be positive")
        if not (0 < self.eid_timeout <= 60 and 60 <= self.eid_attempt_ttl <= 3600 and self.eid_max_failures > 0):
            raise ConfigError("EID_TIMEOUT must be 1-60 s, EID_ATTEMPT_TTL 60-3600 s, EID_MAX_FAILURES positive")
        if list(self.reminder_days) != sorted(set(self.reminder_days)) or any(d <= 0 for d in self.reminder_days):
            raise ConfigError("REMINDER_DAYS must be increasing positive whole days, e.g. 3,7,12")

    @property
    def email_outbox_path(self) -> Path:
        return self.email_outbox or self.instance_path / "email-outbox.jsonl"

    @property
    def email_sender(self) -> str:
        """The From: of our emails: EMAIL_FROM, or a no-reply address on the public domain."""
        if self.email_from:
            return self.email_from
        host = urlsplit(self.public_url).hostname or "localhost"
        return formataddr((self.service_name, f"no-reply@{host}"))

    def flask_config(self) -> dict[str, Any]:
        """The Flask and extension settings derived from these settings."""
        # A connection checked before use (a restarted server's are dropped, not served), and a server that
        # does not answer within seconds is an outage (`web/outage.py`: 503), not a request hanging.
        engine_options: dict[str, Any] = {
            "pool_pre_ping": True,
            "pool_size": self.db_pool_size,
            "max_overflow": self.db_max_overflow,
            "connect_args": {"connect_timeout": 5},
        }
        if self.database_url.startswith("sqlite"):
            engine_options = {"connect_args": {"timeout": 30}}
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": self.max_document_bytes + 256 * 1024,
            "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.session_cookie_secure,
            "SESSION_COOKIE_NAME": "wassit_session",
            "PERMANENT_SESSION_LIFETIME": 8 * 3600,
            "WTF_CSRF_TIME_LIMIT": None,
            "BABEL_DEFAULT_LOCALE": self.default_language,
            # Text responses go out compressed (brotli, else gzip): pages are small on 2G/3G.
            "COMPRESS_ALGORITHM": ["br", "gzip"],
            "COMPRESS_MIMETYPES": [
                "text/html",
                "text/css",
                "text/plain",
                "application/javascript",
                "text/javascript",
                "application/json",
                "application/manifest+json",
                "image/svg+xml",
            ],
            "COMPRESS_MIN_SIZE": 512,
            "COMPRESS_BR_LEVEL": 5,
            "RATELIMIT_STORAGE_URI": "memory://",
            # With Redis storage (`create_app`): a dead or frozen Redis costs a request a second at most,
            # once; then the limits fall back to memory until Redis answers again.
            "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            # If Redis is down, limits fall back to per-process memory rather than failing requests.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_HEADERS_ENABLED": True,
        }


def parse_reminder_days(raw: str) -> tuple[int, ...]:
    """`"3,7,12"` → (3, 7, 12); `"none"` (or `"off"`) → no reminders."""
    if raw.strip().lower() in {"none", "off", "0"}:
        return ()
    try:
        return tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError as exc:
        raise ConfigError(f"REMINDER_DAYS must list whole days separated by commas, got {raw!r}") from exc


def normalise_database_url(url: str) -> str:
    """`postgresql://…` (as hosting platforms give it) means the psycopg 3 driver here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def old_master_key_files(instance: Path) -> tuple[bytes, ...]:
    """The embedded setup's earlier master keys (`flask keys new-master` keeps them in instance/master-keys/)."""
    directory = instance / "master-keys"
    if not directory.is_dir():
        return ()
    return tuple(_decode_master_key(path.read_text().strip()) for path in sorted(directory.glob("*.key")))


def new_master_key_file(instance: Path) -> str:
    """Embedded setup: a new instance/master.key, the old one kept in instance/master-keys/ (still read).

    Returns the old key's id.  Every process must restart to wrap new data keys with the new key; until
    then they keep writing with the old one, which stays readable."""
    current = instance / "master.key"
    old = current.read_text().strip()
    old_id = hashlib.sha256(b"wassit/key-id" + _decode_master_key(old)).hexdigest()[:16]
    directory = instance / "master-keys"
    directory.mkdir(mode=0o700, exist_ok=True)
    kept = directory / f"{old_id}.key"
    if not kept.exists():
        fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(old + "\n")
    fresh = instance / "master.key.new"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    os.replace(fresh, current)
    return old_id


def _decode_master_key(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError("MASTER_KEY must be base64") from exc

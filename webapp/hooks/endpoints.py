"""Webhook endpoints, as an organisation's admins manage them (portal and API alike).

An endpoint is an HTTPS URL checked here (never a private host, unless
`WEBHOOK_ALLOW_PRIVATE`), with a signing secret sealed by the vault and shown once,
on creation and rotation.  Only the organisation's own endpoints and their delivery
log are ever returned: callers answer 404 for anything else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import DbSession
from webapp.hooks.addresses import is_public_host
from webapp.hooks.context import HookServices
from webapp.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.models.types import new_id
from webapp.textinput import control_character, single_line_message
from webapp.vault import Sealed

MAX_URL_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 100
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
RECENT_DELIVERIES = 50  # what the portal's endpoint page lists


class WebhookError(Exception):
    """A webhook operation was refused."""


class InvalidWebhookUrl(WebhookError):
    """The URL cannot receive webhooks (not HTTPS, credentials in it, private host, too long)."""


class InvalidWebhookDescription(WebhookError):
    """The description holds a line break or a control character."""


def clean_description(description: str) -> str:
    found = control_character(description)
    if found is not None:
        raise InvalidWebhookDescription(single_line_message("description", found))
    return description.strip()[:MAX_DESCRIPTION_LENGTH]


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once to the admin, never stored in clear


def validate_webhook_url(url: str, *, allow_private: bool) -> str:
    """Returns the URL if an endpoint may use it, or raises `InvalidWebhookUrl`."""
    url = url.strip()
    if not url:
        raise InvalidWebhookUrl("A URL is required.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl("The URL is too long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidWebhookUrl("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise InvalidWebhookUrl("This is not a valid URL.") from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in {"https", "http"} or not host:
        raise InvalidWebhookUrl("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("The URL may not contain a user name or password.")
    if parts.fragment:
        raise InvalidWebhookUrl("The URL may not contain a fragment (#).")
    private = is_private_host(host)
    if private and not allow_private:
        raise InvalidWebhookUrl("The URL must point to a public host.")
    if parts.scheme == "http" and not (allow_private and private):
        raise InvalidWebhookUrl("The URL must start with https://.")
    return url


def is_private_host(host: str) -> bool:
    """True for any address of a special-purpose range (loopback, private, NAT64, 6to4, …), in any
    literal form, and for local-only names (`webapp.hooks.addresses`)."""
    return not is_public_host(host)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _seal_secret(services: HookServices, endpoint: WebhookEndpoint, secret: str) -> None:
    sealed = services.vault.encrypt(secret.encode(), context=f"webhook-secret:{endpoint.id}")
    endpoint.secret_key_id, endpoint.secret_wrapped_key = sealed.key_id, sealed.wrapped_key
    endpoint.secret_nonce, endpoint.secret_ciphertext = sealed.nonce, sealed.ciphertext
    endpoint.secret_hint = secret[: len(SECRET_PREFIX) + 4]


def endpoint_secret(services: HookServices, endpoint: WebhookEndpoint) -> str:
    sealed = Sealed(
        endpoint.secret_key_id, endpoint.secret_wrapped_key, endpoint.secret_nonce, endpoint.secret_ciphertext
    )
    return services.vault.decrypt(sealed, context=f"webhook-secret:{endpoint.id}").decode()


def create_endpoint(
    session: DbSession,
    services: HookServices,
    *,
    organisation_id: str,
    url: str,
    description: str = "",
    user_id: str | None = None,
) -> CreatedEndpoint:
    """Registers an endpoint with a new signing secret, returned once."""
    url = validate_webhook_url(url, allow_private=services.settings.webhook_allow_private)
    description = clean_description(description)
    endpoint = WebhookEndpoint(
        id=new_id(),
        organisation_id=organisation_id,
        url=url,
        description=description,
        is_active=True,
        created_at=services.clock.now(),
        created_by_user_id=user_id,
    )
    secret = new_secret()
    _seal_secret(services, endpoint, secret)
    session.add(endpoint)
    return CreatedEndpoint(endpoint, secret)


def rotate_secret(services: HookServices, endpoint: WebhookEndpoint) -> str:
    """Replaces the endpoint's secret at once (the old one stops working); returns the new one."""
    secret = new_secret()
    _seal_secret(services, endpoint, secret)
    endpoint.secret_rotated_at = services.clock.now()
    return secret


def set_endpoint_active(services: HookServices, endpoint: WebhookEndpoint, active: bool) -> None:
    endpoint.is_active = active
    endpoint.disabled_at = None if active else services.clock.now()


def update_endpoint(
    services: HookServices, endpoint: WebhookEndpoint, *, active: bool | None = None, description: str | None = None
) -> None:
    """Enables or disables the endpoint, and changes its description; None leaves either as it is."""
    if description is not None:
        endpoint.description = clean_description(description)
    if active is not None and active != endpoint.is_active:
        set_endpoint_active(services, endpoint, active)


def delete_endpoint(session: DbSession, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint with its delivery log."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)


# --- what an admin reads: the organisation's endpoints and their delivery log ------------------------


def organisation_endpoints(session: DbSession, organisation_id: str) -> list[WebhookEndpoint]:
    """The organisation's endpoints, oldest first."""
    return list(
        session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organisation_id == organisation_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        ).scalars()
    )


def organisation_endpoint(session: DbSession, organisation_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The endpoint if it belongs to the organisation; None otherwise (callers answer 404, never 403)."""
    return session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organisation_id == organisation_id
        )
    ).scalar_one_or_none()


def endpoint_delivery(session: DbSession, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery | None:
    """One delivery of the endpoint, with its attempts; None if it is another endpoint's."""
    return session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
        .options(selectinload(WebhookDelivery.attempt_log))
    ).scalar_one_or_none()


def recent_deliveries(
    session: DbSession, endpoint: WebhookEndpoint, limit: int = RECENT_DELIVERIES
) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first, with their attempts and letters."""
    return list(
        session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .options(selectinload(WebhookDelivery.attempt_log), selectinload(WebhookDelivery.letter))
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def delivery_page(
    session: DbSession,
    endpoint: WebhookEndpoint,
    *,
    limit: int,
    status: WebhookDeliveryStatus | None = None,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[WebhookDelivery], bool]:
    """A page of the endpoint's delivery log, newest first, after the position (created_at, id) of the
    previous page's last delivery; and whether more follow."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(WebhookDelivery.created_at < at, and_(WebhookDelivery.created_at == at, WebhookDelivery.id < last_id))
        )
    deliveries = list(
        session.execute(
            query.options(selectinload(WebhookDelivery.attempt_log))
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit + 1)
        ).scalars()
    )
    return deliveries[:limit], len(deliveries) > limit

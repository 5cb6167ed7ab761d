"""Portal pages where an organisation's admins manage webhook endpoints and follow their deliveries."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from webapp.extensions import db
from webapp.hooks.delivery import retry_now
from webapp.hooks.endpoints import (
    MAX_URL_LENGTH,
    InvalidWebhookDescription,
    InvalidWebhookUrl,
    create_endpoint,
    delete_endpoint,
    endpoint_delivery,
    organisation_endpoint,
    organisation_endpoints,
    recent_deliveries,
    rotate_secret,
    set_endpoint_active,
)
from webapp.models import Role, WebhookEndpoint
from webapp.services import current_services
from webapp.web.forms import SingleLine, single_line_error

bp = Blueprint("portal_webhooks", __name__, url_prefix="/settings/webhooks")

# The domain's refusals (webapp/hooks/endpoints.py), shown in the admin's language.
URL_ERRORS = {
    "A URL is required.": _l("A URL is required."),
    "The URL is too long.": _l("The URL is too long."),
    "The URL may not contain spaces or control characters.": _l(
        "The URL may not contain spaces or control characters."
    ),
    "This is not a valid URL.": _l("This is not a valid URL."),
    "The URL must start with https://.": _l("The URL must start with https://."),
    "The URL may not contain a user name or password.": _l("The URL may not contain a user name or password."),
    "The URL may not contain a fragment (#).": _l("The URL may not contain a fragment (#)."),
    "The URL must point to a public host.": _l("The URL must point to a public host."),
}


class EndpointForm(FlaskForm):  # type: ignore[misc]
    url = StringField(_l("URL (https://…)"), validators=[SingleLine(), DataRequired(), Length(max=MAX_URL_LENGTH)])
    description = StringField(_l("Description (optional)"), validators=[SingleLine(), Optional(), Length(max=100)])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only its CSRF token."""


def admin_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if current_user.role is not Role.ADMIN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.after_request
def _private(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"  # the creation page shows a secret
    return response


def _own_endpoint(endpoint_id: str) -> WebhookEndpoint:
    endpoint = organisation_endpoint(db.session, current_user.organisation_id, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.route("", methods=["GET", "POST"])
@admin_required
def index() -> ResponseReturnValue:
    form = EndpointForm()
    if form.validate_on_submit():
        services = current_services()
        try:
            created = create_endpoint(
                db.session,
                services,
                organisation_id=current_user.organisation_id,
                url=form.url.data,
                description=form.description.data or "",
                user_id=current_user.id,
            )
        except InvalidWebhookUrl as exc:
            form.url.errors.append(str(URL_ERRORS.get(str(exc), _l("This is not a valid URL."))))
        except InvalidWebhookDescription:
            form.description.errors.append(single_line_error(form.description))
        else:
            db.session.commit()
            return render_template("portal/webhooks/secret.html", endpoint=created.endpoint, secret=created.secret)
        db.session.rollback()
    page = render_template(
        "portal/webhooks/index.html",
        form=form,
        endpoints=organisation_endpoints(db.session, current_user.organisation_id),
    )
    return page, 422 if form.errors else 200


@bp.get("/<endpoint_id>")
@admin_required
def detail(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    deliveries = recent_deliveries(db.session, endpoint)
    return render_template("portal/webhooks/detail.html", endpoint=endpoint, deliveries=deliveries)


def _checked_action() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


@bp.post("/<endpoint_id>/disable")
@admin_required
def disable(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    _checked_action()
    set_endpoint_active(current_services(), endpoint, False)
    db.session.commit()
    flash(_("The endpoint is disabled: it receives no more events."), "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id), code=303)


@bp.post("/<endpoint_id>/enable")
@admin_required
def enable(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    _checked_action()
    set_endpoint_active(current_services(), endpoint, True)
    db.session.commit()
    flash(_("The endpoint is enabled."), "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id), code=303)


@bp.post("/<endpoint_id>/rotate")
@admin_required
def rotate(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    _checked_action()
    secret = rotate_secret(current_services(), endpoint)
    db.session.commit()
    return render_template("portal/webhooks/secret.html", endpoint=endpoint, secret=secret)


@bp.post("/<endpoint_id>/delete")
@admin_required
def remove(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    _checked_action()
    delete_endpoint(db.session, endpoint)
    db.session.commit()
    flash(_("The endpoint and its delivery log are deleted."), "info")
    return redirect(url_for(".index"), code=303)


@bp.post("/<endpoint_id>/deliveries/<delivery_id>/retry")
@admin_required
def retry(endpoint_id: str, delivery_id: str) -> ResponseReturnValue:
    endpoint = _own_endpoint(endpoint_id)
    delivery = endpoint_delivery(db.session, endpoint, delivery_id)
    if delivery is None:
        abort(404)
    _checked_action()
    if not endpoint.is_active:
        flash(_("Enable the endpoint before sending to it again."), "error")
    else:
        retry_now(db.session, current_services(), delivery)
        db.session.commit()
        flash(_("The event will be sent again in a moment."), "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id), code=303)

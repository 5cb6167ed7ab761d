"""Support agents for tests: created enrolled in two-factor, logged in through the real console pages."""

from __future__ import annotations

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from tests.portal_helpers import ENGLISH, csrf_token
from webapp.accounts.two_factor import new_totp_secret, turn_on_totp
from webapp.extensions import db
from webapp.models import Agent
from webapp.services import current_services
from webapp.support.agents import create_agent

AGENT_PASSWORD = "agent horse battery staple"  # a test fixture's password


def make_agent(
    app: Flask,
    email: str = "agent@wassit.ma",
    password: str = AGENT_PASSWORD,
    *,
    operator_admin: bool = False,
    two_factor: bool = True,
) -> tuple[str, str]:
    """An agent (enrolled in TOTP unless `two_factor` is False): (agent id, TOTP secret)."""
    with app.app_context():
        services = current_services()
        agent = create_agent(db.session, services.clock, email=email, password=password, operator_admin=operator_admin)
        db.session.flush()
        secret = new_totp_secret()
        if two_factor:
            turn_on_totp(services.clock, services.vault, agent, secret, totp_code(app, secret))
            agent.totp_last_timestep = None  # enrolled "a while ago": the first log-in may use the current code
        db.session.commit()
        agent_id = agent.id
        db.session.remove()
        return agent_id, secret


def totp_code(app: Flask, secret: str) -> str:
    """The code the agent's authenticator app shows now (the app's clock)."""
    with app.app_context():
        return pyotp.TOTP(secret).at(current_services().clock.now())


def next_totp_code(app: Flask, secret: str) -> str:
    """A fresh code: moves a frozen clock to the next 30-second step, since a code is never accepted twice."""
    with app.app_context():
        clock = current_services().clock
        advance = getattr(clock, "advance", None)
        if advance is not None:
            advance(30)
    return totp_code(app, secret)


def agent_email(app: Flask, agent_id: str) -> str:
    with app.app_context():
        email = db.session.get_one(Agent, agent_id).email
        db.session.remove()
        return email


def submit_agent_password(client: FlaskClient, app: Flask, agent_id: str, password: str = AGENT_PASSWORD) -> str:
    """Posts the console's log-in form; returns where it redirects."""
    page = client.get("/support/login", headers=ENGLISH)
    data = {"csrf_token": csrf_token(page.text), "email": agent_email(app, agent_id), "password": password}
    response = client.post("/support/login", data=data, headers=ENGLISH)
    assert response.status_code == 303, response.text[:2000]
    return response.headers["Location"]


def log_in_agent(client: FlaskClient, app: Flask, agent_id: str, secret: str, password: str = AGENT_PASSWORD) -> None:
    """Logs the (enrolled) agent into the console: password, then the authenticator's code."""
    assert submit_agent_password(client, app, agent_id, password).endswith("/support/login/code")
    page = client.get("/support/login/code", headers=ENGLISH)
    data = {"csrf_token": csrf_token(page.text), "code": next_totp_code(app, secret)}
    response = client.post("/support/login/code", data=data, headers=ENGLISH)
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["Location"].endswith("/support/"), response.headers["Location"]

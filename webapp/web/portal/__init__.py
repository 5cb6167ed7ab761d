"""The sender portal.

The `portal` blueprint's views are in `login` (log in and out) and `letters` (the dashboard and a
letter's pages); the account pages are the `account` blueprint, bulk sending `bulk`, webhooks `webhooks`.
"""

from __future__ import annotations

from flask import Blueprint

from webapp.web.policies import no_store

bp = Blueprint("portal", __name__)
no_store(bp)

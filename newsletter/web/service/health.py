"""The health endpoint: is the database answering, with this version's schema, and is mail moving.

Mail is moving when no confirm or welcome email has waited longer than the context's
`mail_wait_limit`: a provider that refuses or hangs leaves signups unconfirmable while every page
still answers 200, so the check a load balancer or monitor polls must fail then.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db.engine import DatabaseError
from newsletter.db.revisions import check_schema
from newsletter.web.service.context import ctx

log = logging.getLogger("newsletter.service.health")
blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    """200 {"status": "ok", ...} or 503 {"status": "unavailable", ...}; details go to the log only."""
    c = ctx()
    database = "ok"
    try:
        check_schema(c.engine)
    except (DatabaseError, SQLAlchemyError) as exc:
        database = "unavailable"
        log.error("health: database unavailable: %s", getattr(exc, "message", type(exc).__name__))
    mail, waiting, waited = "ok", 0, 0.0
    if database == "ok":
        waiting, oldest = c.mail.pending(), c.mail.oldest_wait()
        waited = round(oldest.total_seconds(), 1)
        if oldest > c.mail_wait_limit:
            mail = "delayed"
            log.error(
                "health: %d email(s) waiting, the oldest for %gs (limit %gs): check the mail provider",
                waiting,
                waited,
                c.mail_wait_limit.total_seconds(),
            )
    ok = database == "ok" and mail == "ok"
    body = {
        "status": "ok" if ok else "unavailable",
        "database": database,
        "mail": mail,
        "mail_waiting": waiting,
        "oldest_mail_seconds": waited,
    }
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response

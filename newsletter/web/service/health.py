"""The health endpoint: is the database answering, with this version's schema, and is mail moving."""

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
    ok = database == "ok"
    body = {"status": "ok" if ok else "unavailable", "database": database, "mail_waiting": c.mail.pending()}
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response

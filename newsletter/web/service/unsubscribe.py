"""One-click unsubscribe (RFC 8058) on the service: GET shows a button, POST unsubscribes and answers 200.

The token is the email's own (the `List-Unsubscribe` URL of every issue sent so far) or the
service's unsubscribe token (the welcome email's). A mail client's one-click POST carries the body
`List-Unsubscribe=One-Click`; the page's button posts the same. No redirect, ever: RFC 8058 asks
for the answer itself.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Blueprint, Response, request

from newsletter.db.suppression import unsubscribe
from newsletter.web.service.context import ctx
from newsletter.web.service.http import page
from newsletter.web.service.tokens import Purpose, TokenError, reader_of

log = logging.getLogger("newsletter.service.unsubscribe")
blueprint = Blueprint("unsubscribe", __name__)
ONE_CLICK = "List-Unsubscribe=One-Click"


def _address() -> tuple[str, str]:
    c = ctx()
    token = (request.args.get("token") or request.form.get("token") or "").strip()
    return token, reader_of(c.keyring, token, Purpose.UNSUBSCRIBE, c.settings.list_id, c.clock())


def _refused(error: TokenError) -> Response:
    log.info("unsubscribe link refused: %s", error.problem)
    return page("error.html", 400, problem="link", link=error.problem.value, purpose="unsubscribe")


@blueprint.get("/unsubscribe")
def unsubscribe_page() -> Response:
    try:
        token, email = _address()
    except TokenError as error:
        return _refused(error)
    return page(
        "unsubscribe.html",
        email=email,
        action=ctx().url("unsubscribe") + "?token=" + quote(token, safe=""),
        one_click=ONE_CLICK,
    )


@blueprint.post("/unsubscribe")
def one_click() -> Response:
    try:
        _token, email = _address()
    except TokenError as error:
        return _refused(error)
    if request.form.get("List-Unsubscribe") != "One-Click":
        log.info("unsubscribe refused: the body is not %s", ONE_CLICK)
        return page("error.html", 400, problem="wrong_form", one_click=ONE_CLICK)
    unsubscribe(ctx().engine, email, "one-click unsubscribe", source="one-click")
    log.info("unsubscribed one address")  # never the address or the token: logs travel
    return page("unsubscribed.html", email=email)

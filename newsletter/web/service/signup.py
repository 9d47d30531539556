"""Signing up: the form, and the answer that is the same whether or not the address is known.

The signup touches no database: the confirmation link itself carries what the person typed
(signed), and only the POST on that link stores anything. So nobody's data is kept until they
prove the inbox is theirs, and a stranger's signup cannot change an existing reader's name or topics.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from newsletter.web.service import emails
from newsletter.web.service.context import ctx
from newsletter.web.service.forms import HONEYPOT, parse_signup
from newsletter.web.service.http import page, safe_redirect
from newsletter.web.service.privacy import topics_consent_text
from newsletter.web.service.tokens import Purpose, make_token

log = logging.getLogger("newsletter.service.signup")
blueprint = Blueprint("signup", __name__)


def _form(status: int = 200, **context: object) -> Response:
    c = ctx()
    values: dict[str, object] = {
        "choices": c.choices,
        "form_version": c.service.form_version,
        "email": "",
        "first_name": "",
        "topics": (),
        "topics_consent_given": False,
        "problems": {},
        "next_url": "",
    }
    values.update(context)
    return page("signup.html", status, topics_consent=topics_consent_text(c.settings.name), **values)


@blueprint.get("/")
@blueprint.get("/signup")
def signup_form() -> Response:
    return _form()


@blueprint.get("/signup/snippet")
def snippet() -> Response:
    """The form as HTML to paste into the site's own page (it posts here)."""
    c = ctx()
    return page(
        "snippet.html",
        action=c.url("signup"),
        choices=c.choices,
        form_version=c.service.form_version,
        topics_consent=topics_consent_text(c.settings.name),
    )


@blueprint.post("/signup")
def signup() -> Response:
    c = ctx()
    if not c.limits.client_allowed(request.remote_addr or "unknown"):
        log.warning("signup refused: too many from one client this hour")
        return page("error.html", 429, problem="too_many")
    form = request.form
    signup, problems = parse_signup(form, c.choices)
    # Ticked topics without their consent are not kept, and the page says so (known address or not).
    answer = page("signup_sent.html", topics_dropped=bool(signup.topics) and not signup.topics_consent)
    if form.get(HONEYPOT, ""):
        log.info("signup ignored: the hidden field was filled in (a bot)")
        return answer  # the same answer: a bot learns nothing
    if problems:
        log.info("signup form returned with problems in: %s", ", ".join(sorted(problems.fields)))
        return _form(
            400,
            email=signup.email,
            first_name=signup.first_name if "first_name" not in problems.fields else "",
            topics=signup.topics,
            topics_consent_given=signup.topics_consent,
            problems=problems.fields,
            next_url=signup.next_url,
        )
    if not c.limits.address_allowed(signup.email):
        log.warning("signup: no confirmation email, this address had its limit this hour")
    else:
        consented = {"c": topics_consent_text(c.settings.name).version} if signup.kept_topics else {}
        token = make_token(
            c.keyring,
            Purpose.CONFIRM,
            signup.email,
            n=signup.first_name,
            t=list(signup.kept_topics),
            v=c.service.form_version,
            **consented,
        )
        links = emails.Links(action=c.url("confirm") + "?token=" + token)
        context = emails.confirm_context(
            c.settings, signup.first_name, links, c.service.confirm_days, c.url("signup")
        )
        message = emails.build_message(
            c.settings, emails.CONFIRM, signup.email, signup.first_name, context, links
        )
        c.mail.submit(message, emails.CONFIRM)
        log.info("signup: confirmation email queued")
    return safe_redirect(signup.next_url, answer)

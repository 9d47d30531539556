"""Signing in with the shared token (NEWSLETTER_DESK_TOKEN), and out again."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, redirect, request, session

from newsletter.web.desk.context import desk
from newsletter.web.desk.pages import page
from newsletter.web.desk.security import CSRF_FIELD

blueprint = Blueprint("auth", __name__)


def _next() -> str:
    target = request.values.get("next", "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    access = desk().access
    if not access.token:
        return redirect("/", 303)  # type: ignore[return-value]
    problem = ""
    if request.method == "POST":
        name = " ".join(request.form.get("name", "").split())[:100]
        token = request.form.get("token", "")
        if name and hmac.compare_digest(token.encode(), access.token.encode()):
            session.clear()
            session["editor"] = name
            return redirect(_next(), 303)  # type: ignore[return-value]
        problem = "Give your name and the desk's token (ask whoever runs the desk)."
    return page("sign_in.html", 401 if problem else 200, problem=problem, next=_next())


@blueprint.post("/sign-out")
def sign_out() -> Response:
    session.pop("editor", None)
    session.pop(CSRF_FIELD, None)
    return redirect("/sign-in", 303)  # type: ignore[return-value]

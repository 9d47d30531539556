"""The desk's style sheet and script, from templates a workspace may override like any page."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from newsletter import render
from newsletter.web.desk.context import desk

blueprint = Blueprint("assets", __name__)
ASSETS = {"desk.css": "text/css; charset=utf-8", "desk.js": "text/javascript; charset=utf-8"}


@blueprint.get("/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404, f"no asset {name}")
    source = render.environment(desk().workspace).get_template(f"desk/{name}").render()
    response = Response(source, content_type=ASSETS[name])
    response.headers["Cache-Control"] = "no-cache"
    return response

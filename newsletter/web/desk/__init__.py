"""The editor's desk: assemble, edit, check, test and approve an issue in the browser.

`create_app(workspace)` builds it over the same library and the same YAML files as the CLI (the
files stay the truth); `newsletter desk` serves it on 127.0.0.1 (`serve`). One blueprint per area:
issues, the issue editor, summaries, import, test and approve, sign-in; every page is a template under
templates/desk/ that a workspace may override. Who may use it: see `security`.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from newsletter.store.config import load_settings
from newsletter.web.desk import assets, auth, editor, imports, issues, pages, proofs, security, summaries
from newsletter.web.desk.context import EXTENSION, Access, DeskContext

if TYPE_CHECKING:
    from newsletter.importers.fetch import FetchPolicy

MAX_BODY = 256 * 1024  # bytes: the largest form (a summary's texts) is a few KB
MAX_UPLOAD = 10 * 1024 * 1024  # bytes: an imported page or feed, as the importer's fetch allows
TOKEN_ENV = "NEWSLETTER_DESK_TOKEN"
HEADER_ENV = "NEWSLETTER_DESK_USER_HEADER"


def access_from_environment() -> Access:
    """The desk's sign-in from the environment: a shared token, a proxy's header, or neither."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "editor"
    return Access(
        token=os.environ.get(TOKEN_ENV, "").strip(),
        user_header=os.environ.get(HEADER_ENV, "").strip(),
        local_user=user,
    )


def create_app(
    workspace: Path,
    *,
    access: Access | None = None,
    clock: Callable[[], datetime] | None = None,
    provider: str | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> Flask:
    """The desk for a workspace; its settings must load (a broken newsletter.yaml stops it here).

    `provider` overrides newsletter.yaml's for test sends (as `send --test-to --provider` does);
    `fetch_policy` the importer's limits (tests: a loopback copy of the site).
    """
    root = Path(workspace).resolve()
    load_settings(root)
    context = DeskContext(
        workspace=root,
        access=access or access_from_environment(),
        clock=clock or (lambda: datetime.now(UTC)),
        provider=provider,
        fetch_policy=fetch_policy,
    )
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # sessions last as long as the desk runs
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        MAX_FORM_PARTS=500,
        SESSION_COOKIE_NAME="newsletter_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.extensions[EXTENSION] = context
    for module in (issues, editor, summaries, imports, proofs, auth, assets):
        app.register_blueprint(module.blueprint)
    security.install(app)
    pages.install(app)
    return app

"""The live preview: a local web server showing an issue as subscribers will get it, updated as you type.

`live.Previewer` watches the workspace and renders the issue again when an input changed; the
page listens on /events (server-sent events) and swaps in the new version at once. A broken edit
shows its error on the page; the server keeps running. The pages are templates
(templates/pages/preview.html and preview_error.html) a workspace can override.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from newsletter.check import sample_recipient
from newsletter.check.findings import GMAIL_CLIP_BYTES
from newsletter.errors import NewsletterError
from newsletter.store import issues
from newsletter.store.config import load_settings
from newsletter.web.live import Previewer, PreviewState, SpamStatus
from newsletter.web.localhttp import WsgiApp, make_wsgi_server, serve_until_interrupted
from newsletter.web.pages import render_page

__all__ = ["Previewer", "PreviewState", "make_server", "preview_app", "serve", "require_previewable"]

PHONE_WIDTH = 375
DESKTOP_WIDTH = 800
KEEPALIVE = 15.0  # seconds between comments on an idle event stream, so a closed page is noticed
_DARK_MEDIA = re.compile(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{", re.IGNORECASE)


def force_dark(html: str) -> str:
    """The email as a dark-mode client shows it: its `prefers-color-scheme: dark` rules always on."""
    out, pos = [], 0
    for match in _DARK_MEDIA.finditer(html):
        if match.start() < pos:
            continue
        depth, end = 1, match.end()
        while end < len(html) and depth:
            depth += {"{": 1, "}": -1}.get(html[end], 0)
            end += 1
        out += [html[pos : match.start()], html[match.end() : end - 1]]
        pos = end
    out.append(html[pos:])
    dark = "".join(out)
    return dark.replace("<head>", "<head><style>:root{color-scheme:dark}</style>", 1)


# --- the pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    caption: str
    src: str
    width: int


FRAMES = (
    Frame(f"Phone, {PHONE_WIDTH} px", "/email.html", PHONE_WIDTH),
    Frame(f"Phone, dark mode, {PHONE_WIDTH} px", "/email-dark.html", PHONE_WIDTH),
    Frame(f"Desktop, {DESKTOP_WIDTH} px", "/email.html", DESKTOP_WIDTH),
)


def email_version(state: PreviewState) -> str:
    """Which email a response shows: the page checks its frames' and its own agree before updating."""
    return state.version if state.sample is not None else f"error-{state.version}"


def error_page(workspace: Path, state: PreviewState, issue_id: str) -> str:
    """The error that stops the issue from rendering, to fix and save."""
    return render_page(
        workspace,
        "preview_error.html",
        state=state,
        email_version=email_version(state),
        issue_id=issue_id,
        error=state.error or "",
    )


def preview_page(workspace: Path, state: PreviewState, issue_id: str) -> str:
    """The editor's view: the inbox line, size, check results, phone, desktop and dark frames, text."""
    sample, report = state.sample, state.report
    if sample is None or report is None:
        return error_page(workspace, state, issue_id)
    return render_page(
        workspace,
        "preview.html",
        state=state,
        email_version=email_version(state),
        issue_id=issue_id,
        sample=sample,
        report=report,
        size_kb=report.html_bytes / 1024,
        clip_kb=GMAIL_CLIP_BYTES // 1024,
        spam_pending=state.spam is SpamStatus.PENDING,
        frames=FRAMES,
    )


# --- the server --------------------------------------------------------------------------------

Response = tuple[int, str, str]
TEXT, HTML = "text/plain; charset=utf-8", "text/html; charset=utf-8"


def route(workspace: Path, path: str, state: PreviewState, issue_id: str) -> Response:
    """(status, content type, body) for a request path other than /events."""
    path = path.split("?", 1)[0]
    if path == "/version":
        return 200, TEXT, state.version
    sample = state.sample
    try:
        if path == "/":
            return (
                (200, HTML, preview_page(workspace, state, issue_id))
                if sample
                else _error(workspace, state, issue_id)
            )
        if path in ("/email.html", "/email-dark.html", "/email.txt"):
            if sample is None:
                return _error(workspace, state, issue_id)
            if path == "/email.txt":
                return 200, TEXT, sample.text
            return 200, HTML, force_dark(sample.html) if path == "/email-dark.html" else sample.html
    except NewsletterError as exc:  # the page template itself is broken: say so, plainly
        return 500, TEXT, f"the preview page's template failed: {exc.message}"
    return 404, TEXT, f"not found: {path}"


def _error(workspace: Path, state: PreviewState, issue_id: str) -> Response:
    return 500, HTML, error_page(workspace, state, issue_id)


def event_stream(previewer: Previewer) -> Iterator[bytes]:
    """Server-sent events: the state's token now and on every change, until the previewer closes."""
    yield b"retry: 500\n\n"  # reconnect quickly when the server restarts
    seen: str | None = None
    while (state := previewer.wait_for_change(seen, KEEPALIVE)) is not None:
        if state.token == seen:
            yield b": idle\n\n"  # a write to a closed page fails, which ends this stream
            continue
        seen = state.token
        yield f"data: {seen}\n\n".encode()


def preview_app(previewer: Previewer) -> WsgiApp:
    """The preview as a WSGI app: every request renders again only if the workspace changed."""

    def app(environ: dict, start_response: Callable[..., object]) -> Iterator[bytes] | list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/events":
            start_response(
                "200 OK",
                [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store")],
            )
            return event_stream(previewer)
        # The frames show the state the page was just rendered from; the page itself looks afresh.
        state = previewer.current() if path.startswith("/email") else previewer.state()
        status, content_type, body = route(previewer.workspace, path, state, previewer.issue_id)
        data = body.encode("utf-8")
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
                ("X-Preview-Email", email_version(state)),
            ],
        )
        return [data]

    return app


def make_server(previewer: Previewer, port: int = 0) -> WSGIServer:
    """A server on 127.0.0.1 only (port 0: any free port); one thread per request, as pages hold /events."""
    return make_wsgi_server(preview_app(previewer), "127.0.0.1", port, NewsletterError)


def require_previewable(workspace: Path, issue_id: str, recipient: str | None) -> None:
    """Refuse, in one line, an issue that does not exist or a --recipient who is not a subscriber."""
    if not issues.issue_path(workspace, issue_id).is_file():
        issues.load_issue(workspace, issue_id)  # raises the loader's "no such issue" advice
    if recipient:
        sample_recipient(load_settings(workspace), recipient)  # refuses one who is not a subscriber


def serve(
    workspace: Path,
    issue_id: str,
    port: int,
    recipient: str | None,
    on_ready: Callable[[str], None],
) -> None:
    """Run the preview until interrupted; `on_ready` gets the URL once the server listens."""
    require_previewable(workspace, issue_id, recipient)
    previewer = Previewer(workspace, issue_id, recipient)
    server = make_server(previewer, port)  # a taken port is reported before any rendering
    with previewer:
        on_ready(f"http://127.0.0.1:{server.server_port}/")
        serve_until_interrupted(server)

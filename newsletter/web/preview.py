"""The live preview: a local web server showing an issue as subscribers will get it, re-rendered on edit.

Every request fingerprints the workspace's inputs (settings, taxonomy, the issue, summaries,
subscribers and templates); when they changed, the issue is rendered and checked again. A broken
edit shows its error on the page; the server keeps running. The page polls /version and reloads
itself when the inputs change.
"""

from __future__ import annotations

import hashlib
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from newsletter import check, render
from newsletter.check.findings import GMAIL_CLIP_BYTES
from newsletter.delivery.history import sent_record
from newsletter.errors import NewsletterError
from newsletter.store.config import load_settings
from newsletter.web.localhttp import WsgiApp, make_wsgi_server, serve_until_interrupted

PHONE_WIDTH = 375
DESKTOP_WIDTH = 800
# What the preview watches, relative to the workspace; the packaged templates are watched too.
WATCHED = ("newsletter.yaml", "topics.yaml", "issues", "summaries", "subscribers", "templates")
_DARK_MEDIA = re.compile(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{", re.IGNORECASE)


def fingerprint(workspace: Path) -> str:
    """A hash of every watched file's name and bytes: any edit changes it."""
    digest = hashlib.sha256()
    roots = [workspace / name for name in WATCHED] + [render.PACKAGED_TEMPLATES]
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if not path.is_file() or path.name.startswith("."):
                continue
            digest.update(str(path).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"unreadable")  # mid-save; the next request sees the final file
    return digest.hexdigest()[:16]


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


@dataclass(frozen=True)
class PreviewState:
    """One rendering of the issue (or the error that stopped it), for one fingerprint."""

    version: str
    report: check.CheckReport | None
    error: str | None


class Previewer:
    """Renders and checks the issue when its inputs change; safe to call from many threads."""

    def __init__(self, workspace: Path, issue_id: str, recipient: str | None = None, spam: bool = True):
        self.workspace = workspace
        self.issue_id = issue_id
        self.recipient = recipient
        self.spam = spam
        self._lock = threading.Lock()
        self._state: PreviewState | None = None

    def state(self) -> PreviewState:
        with self._lock:
            version = fingerprint(self.workspace)
            if self._state is None or self._state.version != version:
                self._state = self._render(version)
            return self._state

    def _render(self, version: str) -> PreviewState:
        try:
            settings = load_settings(self.workspace)
            report = check.check_issue(
                settings, self.issue_id, recipient=self.recipient, spam=self.spam, sent=sent_record(settings)
            )
        except NewsletterError as exc:
            return PreviewState(version, None, exc.message)
        except Exception:  # noqa: BLE001 - a bug must show on the page, not stop the server
            return PreviewState(version, None, "internal error:\n" + traceback.format_exc())
        if report.sample is None:
            return PreviewState(version, report, "\n".join(str(f) for f in report.errors))
        return PreviewState(version, report, None)


# --- the pages ---------------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #eef0f3; color: #1b1f24; }
header, section { padding: 12px 20px; }
header { background: #fff; border-bottom: 1px solid #d0d5dc; }
h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 16px 0 6px; }
.inbox { background: #fff; border: 1px solid #d0d5dc; border-radius: 6px; padding: 8px 12px; max-width: 720px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.inbox .from { font-weight: 600; } .inbox .subject { font-weight: 600; } .inbox .pre { color: #5f6b7a; }
.frames { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.frames figure { margin: 0; } figcaption { font-size: 13px; color: #5f6b7a; margin-bottom: 4px; }
iframe { border: 1px solid #b8c0cc; background: #fff; height: 900px; }
pre.text { background: #fff; border: 1px solid #d0d5dc; padding: 12px; max-width: 80ch;
  white-space: pre-wrap; }
.error { color: #a40e26; } .warning { color: #7a4d00; } .note { color: #44505f; }
.failure { background: #fff0f1; border: 2px solid #a40e26; padding: 12px; white-space: pre-wrap; }
"""

_RELOAD = """
<script>
  // Reload when the workspace changes, so an edit shows without touching the browser.
  const shown = document.documentElement.dataset.version;
  setInterval(async () => {
    try {
      const now = await (await fetch('/version', {cache: 'no-store'})).text();
      if (now !== shown) location.reload();
    } catch (e) { /* the server is restarting; try again */ }
  }, 1000);
</script>
"""


def _page(version: str, title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en" data-version="{escape(version)}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}{_RELOAD}</body></html>"
    )


def error_page(state: PreviewState, issue_id: str) -> str:
    body = (
        f"<header><h1>Preview of {escape(issue_id)}: cannot render</h1></header>"
        f'<section><p>Fix this and save; the page reloads by itself.</p><pre class="failure">'
        f"{escape(state.error or '')}</pre></section>"
    )
    return _page(state.version, f"Error: {issue_id}", body)


def _findings_list(report: check.CheckReport) -> str:
    if not report.findings:
        return "<p>No findings.</p>"
    items = "".join(
        f'<li class="{f.severity}"><strong>{f.severity}</strong>: {escape(f.where)}: {escape(f.what)}. '
        f"<em>Fix:</em> {escape(f.fix)}</li>"
        for f in report.findings
    )
    return f"<ul>{items}</ul>"


def preview_page(state: PreviewState, issue_id: str) -> str:
    """The editor's view: the inbox line, size, check results, phone, desktop and dark frames, text."""
    report = state.report
    if state.error or report is None or report.sample is None:
        return error_page(state, issue_id)
    sample = report.sample
    size_kb = report.html_bytes / 1024
    clip_kb = GMAIL_CLIP_BYTES // 1024
    frame = (
        '<figure><figcaption>{caption}</figcaption><iframe title="{caption}" src="{src}" width="{w}">'
        "</iframe></figure>"
    )
    body = f"""
<header>
  <h1>Preview of {escape(issue_id)}, as {escape(sample.recipient)} gets it</h1>
  <div class="inbox" id="inbox"><span class="from">{escape(sample.from_name)}</span> &nbsp;
    <span class="subject">{escape(sample.subject)}</span> &nbsp;
    <span class="pre">{escape(sample.preheader)}</span></div>
  <p id="size">HTML size: {size_kb:.1f} KB of Gmail's {clip_kb} KB clipping limit
    <meter min="0" max="{clip_kb}" low="80" high="100" optimum="20" value="{size_kb:.1f}"></meter></p>
  <p id="summary">{escape(report.summary_line())}</p>
</header>
<section id="check"><h2>Check</h2>{_findings_list(report)}</section>
<section class="frames">
  {frame.format(caption=f"Phone, {PHONE_WIDTH} px", src="/email.html", w=PHONE_WIDTH)}
  {frame.format(caption=f"Phone, dark mode, {PHONE_WIDTH} px", src="/email-dark.html", w=PHONE_WIDTH)}
  {frame.format(caption=f"Desktop, {DESKTOP_WIDTH} px", src="/email.html", w=DESKTOP_WIDTH)}
</section>
<section><h2>Plain text (<a href="/email.txt">raw</a>)</h2>
  <pre class="text" id="text">{escape(sample.text)}</pre></section>
"""
    return _page(state.version, f"Preview: {sample.subject}", body)


# --- the server --------------------------------------------------------------------------------


def _html(status: int, body: str) -> tuple[int, str, str]:
    return status, "text/html; charset=utf-8", body


def route(path: str, state: PreviewState, issue_id: str) -> tuple[int, str, str]:
    """(status, content type, body) for a request path."""
    path = path.split("?", 1)[0]
    if path == "/version":
        return 200, "text/plain; charset=utf-8", state.version
    ok = state.error is None and state.report is not None and state.report.sample is not None
    if path == "/":
        return _html(200 if ok else 500, preview_page(state, issue_id))
    if path in ("/email.html", "/email-dark.html", "/email.txt"):
        if not ok:
            return _html(500, error_page(state, issue_id))
        sample = state.report.sample
        if path == "/email.txt":
            return 200, "text/plain; charset=utf-8", sample.text
        return _html(200, force_dark(sample.html) if path == "/email-dark.html" else sample.html)
    return 404, "text/plain; charset=utf-8", f"not found: {path}"


def preview_app(previewer: Previewer) -> WsgiApp:
    """The preview as a WSGI app: every request renders again only if the workspace changed."""

    def app(environ: dict, start_response: Callable[..., object]) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        status, content_type, body = route(path, previewer.state(), previewer.issue_id)
        data = body.encode("utf-8")
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [data]

    return app


def make_server(previewer: Previewer, port: int = 0) -> WSGIServer:
    """A server on 127.0.0.1 only (port 0: any free port); call serve_forever() to run it."""
    return make_wsgi_server(preview_app(previewer), "127.0.0.1", port, NewsletterError)


def serve(
    workspace: Path,
    issue_id: str,
    port: int,
    recipient: str | None,
    on_ready: Callable[[str], None],
) -> None:
    """Run the preview until interrupted; `on_ready` gets the URL once the server listens."""
    server = make_server(Previewer(workspace, issue_id, recipient), port)
    on_ready(f"http://127.0.0.1:{server.server_port}/")
    serve_until_interrupted(server)

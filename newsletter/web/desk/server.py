"""`newsletter desk`: the desk under waitress, on 127.0.0.1 unless a sign-in guards it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import waitress

from newsletter.errors import NewsletterError
from newsletter.web.desk import HEADER_ENV, MAX_UPLOAD, TOKEN_ENV, access_from_environment, create_app
from newsletter.web.desk.context import Access

THREADS = 4  # a page, its preview frame and its assets at once; one editor or a small team


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_guarded(host: str, access: Access) -> None:
    """Listening beyond this machine needs a sign-in: the token or the proxy's header."""
    if not is_loopback(host) and not (access.token or access.user_header):
        raise NewsletterError(
            f"--host {host} would open the desk to the network without a sign-in; set {TOKEN_ENV} "
            f"(a shared token) or {HEADER_ENV} (a reverse proxy's header naming the editor), "
            "or keep 127.0.0.1"
        )


def make_server(workspace: Path, host: str, port: int, access: Access | None = None, **options: Any) -> Any:
    """A waitress server for the desk of `workspace` (port 0: any free port), not yet running."""
    access = access or access_from_environment()
    require_guarded(host, access)
    app = create_app(workspace, access=access, **options)
    # Waitress takes an import's upload; Flask holds every other form to MAX_BODY (security.py).
    try:
        return waitress.create_server(
            app, host=host, port=port, threads=THREADS, max_request_body_size=MAX_UPLOAD,
            expose_tracebacks=False, ident="newsletter-desk",
        )  # fmt: skip
    except OSError as exc:
        raise NewsletterError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port"
        ) from None


def serve(
    workspace: Path, issue_id: str | None, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Run the desk until Ctrl-C; `on_ready` gets the URL (of the issue, when one is given)."""
    server = make_server(workspace, host, port)
    shown = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0") else host
    on_ready(f"http://{shown}:{server.effective_port}/" + (f"issues/{issue_id}" if issue_id else ""))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.task_dispatcher.shutdown()
        server.close()

"""The `serve` command: the subscriber service (signup, confirm, preferences, unsubscribe) under waitress."""

from __future__ import annotations

import sys
from argparse import Namespace

from newsletter.cli.params import whole_number_in
from newsletter.cli.parser import command, echo

TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from types import FrameType

    from newsletter.cli.parser import Commands
    from newsletter.store.workspace import Workspace


def register(commands: Commands) -> None:
    """Add `serve`."""
    p = command(commands, "serve", serve_command)
    p.add_argument(
        "--host", default="127.0.0.1", metavar="TEXT", help="Address to listen on.  [default: 127.0.0.1]"
    )
    p.add_argument("--port", type=whole_number_in(0, 65535), default=8030, metavar="PORT",
                   help="Port (0: any free).  [0..65535; default: 8030]")  # fmt: skip


def _stop_on_sigterm() -> None:
    import signal

    def stop(_signum: int, _frame: FrameType | None) -> None:
        sys.exit(0)  # waitress stops on SystemExit, after the requests in flight

    signal.signal(signal.SIGTERM, stop)


def serve_command(ws: Workspace, args: Namespace) -> None:
    """Run the subscriber service: signup with double opt-in, confirm, preferences, one-click
    unsubscribe, download or erase one's data, and /health.

    Links are signed with NEWSLETTER_SECRET (NEWSLETTER_SECRET_PREVIOUS verifies until
    service.previous_key_until); emails go through the configured provider. Put it behind the
    site's reverse proxy (README: "The subscriber service"). Logs go to standard error, one line
    per request, never a token or an address.

    Example:
        NEWSLETTER_SECRET=... newsletter serve --port 8030
    """
    import logging  # here, not at the top: `newsletter --help` need not load it

    from newsletter.db.engine import database_url, open_engine
    from newsletter.web.service import create_app
    from newsletter.web.service.server import make_server, serve_forever
    from newsletter.web.service.settings import service_settings

    settings = ws.settings
    service = service_settings(settings)
    engine = open_engine(database_url(ws.root, settings.database))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings, engine, service=service)
    server = make_server(app, args.host, args.port, service)
    where = f"http://{args.host}:{server.effective_port}/"
    echo(f"Subscriber service on {where} (public: {service.base_url}); Ctrl-C stops it")
    _stop_on_sigterm()
    try:
        serve_forever(server)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["newsletter_service"].mail.close()
        engine.dispose()

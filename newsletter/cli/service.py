"""The `serve` command: the subscriber service (signup, confirm, preferences, unsubscribe) under waitress."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from newsletter.cli.core import command, echo
from newsletter.cli.params import WholeNumber

if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from types import FrameType

    from newsletter.store.workspace import Workspace


def _stop_on_sigterm() -> None:
    import signal

    def stop(_signum: int, _frame: FrameType | None) -> None:
        sys.exit(0)  # waitress stops on SystemExit, after the requests in flight

    signal.signal(signal.SIGTERM, stop)


@command("serve")
@click.option(
    "--host", default="127.0.0.1", metavar="TEXT", help="Address to listen on.  [default: 127.0.0.1]"
)
@click.option("--port", type=WholeNumber(0, 65535), default=8030, metavar="PORT",
              help="Port (0: any free).  [0..65535; default: 8030]")  # fmt: skip
def serve_command(ws: Workspace, host: str, port: int) -> None:
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
    from newsletter.web.service import create_app, prepare_database
    from newsletter.web.service.server import make_server, serve_forever
    from newsletter.web.service.settings import service_settings

    settings = ws.settings
    service = service_settings(settings)
    engine = open_engine(database_url(ws.root, settings.database))
    done = prepare_database(engine)
    if done:
        echo(done)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings, engine, service=service)
    server = make_server(app, host, port, service)
    where = f"http://{host}:{server.effective_port}/"
    echo(f"Subscriber service on {where} (public: {service.base_url}); Ctrl-C stops it")
    _stop_on_sigterm()
    try:
        serve_forever(server)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["newsletter_service"].mail.close()
        engine.dispose()


COMMANDS = [serve_command]

"""The subscriber service under load: one-click unsubscribes per second, and the signup round trip.

The service runs in its own process under waitress (this script started with `--serve`), on a
temporary copy of the sample workspace with a SQLite state database; clients are threads here,
each with its own keep-alive connection, at 1, 16 and 64 at once. The signup round trip is the time
from the form's POST to the confirmation email accepted by a loopback SMTP sink (aiosmtpd, in this
process). The per-client rate limit is lifted for the run (every client is 127.0.0.1). Nothing
leaves this machine.

    python bench/bench_service.py [--unsubscribes 1500] [--signups 300] [--clients 1 16 64]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from benchkit import SECRET, bench_env, copy_sample_workspace, free_port, machine_line, started, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' aiosmtpd sink


def serve(workspace: Path, port: int, sink_port: int) -> None:
    """The child: the app under waitress, mail to the sink, no per-client limit."""
    import logging

    from newsletter.db.engine import database_url, open_engine
    from newsletter.store.config import load_settings
    from newsletter.web.service import create_app
    from newsletter.web.service.server import make_server, serve_forever
    from newsletter.web.service.settings import ServiceSettings

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is the point here
    settings = dataclasses.replace(
        load_settings(workspace), provider=f"smtp://127.0.0.1:{sink_port}?starttls=no"
    )
    service = ServiceSettings(f"http://127.0.0.1:{port}/", ("http://127.0.0.1",), ip_limit=100_000)
    app = create_app(settings, open_engine(database_url(workspace, None, {})), service=service)
    serve_forever(make_server(app, "127.0.0.1", port, service))


def prepare(workspace: Path, readers: int) -> list[str]:
    """The database with `readers` subscribers; their one-click tokens."""
    from newsletter.db.csvimport import import_csv
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade
    from newsletter.mail.tokens import make_token
    from newsletter.store.config import load_settings

    engine = open_engine(database_url(workspace, None, {}))
    upgrade(engine)
    emails = [f"bench{n:05d}@example.org" for n in range(readers)]
    (workspace / "bench.csv").write_text("email\n" + "\n".join(emails) + "\n")
    import_csv(engine, workspace / "bench.csv", "readers", None, False)
    engine.dispose()
    list_id = load_settings(workspace).list_id
    return [make_token(SECRET.encode(), list_id, e) for e in emails]


def run_clients(
    clients: int, jobs: list[Callable[[http.client.HTTPConnection], float]], port: int
) -> list[float]:
    """Run the jobs on `clients` threads, each with one keep-alive connection; each job's seconds."""
    results: list[float] = []
    lock = threading.Lock()
    queue = list(reversed(jobs))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                job = queue.pop()
            seconds = job(connection)
            with lock:
                results.append(seconds)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def post(connection: http.client.HTTPConnection, path: str, body: str) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", path, body=body.encode(), headers=headers)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def unsubscribe_job(token: str) -> Callable[[http.client.HTTPConnection], float]:
    def job(connection: http.client.HTTPConnection) -> float:
        started_at = time.perf_counter()
        status = post(connection, f"/unsubscribe?token={token}", "List-Unsubscribe=One-Click")
        if status != 200:
            raise SystemExit(f"one-click unsubscribe answered {status}")
        return time.perf_counter() - started_at

    return job


class ArrivalSink:
    """The tests' aiosmtpd sink, noting when each recipient's message was accepted."""

    def __init__(self) -> None:
        from delivery_helpers import RecordingSink

        self.arrived: dict[str, float] = {}
        self.condition = threading.Condition()
        outer = self

        class Handler(RecordingSink):
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                answer = await super().handle_DATA(server, session, envelope)
                with outer.condition:
                    outer.arrived[envelope.rcpt_tos[0]] = time.perf_counter()
                    outer.condition.notify_all()
                return answer

        self.handler = Handler()

    def wait(self, address: str, timeout: float = 60.0) -> float:
        with self.condition:
            if not self.condition.wait_for(lambda: address in self.arrived, timeout):
                raise SystemExit(f"no confirmation email for {address} within {timeout:.0f} s")
            return self.arrived[address]


def signup_job(sink: ArrivalSink, address: str) -> Callable[[http.client.HTTPConnection], float]:
    def job(connection: http.client.HTTPConnection) -> float:
        started_at = time.perf_counter()
        status = post(connection, "/signup", urlencode({"email": address, "consent": "yes"}))
        if status != 200:
            raise SystemExit(f"signup answered {status}")
        return sink.wait(address) - started_at

    return job


def line(name: str, clients: int, seconds: list[float], elapsed: float) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name:<26} {clients:>3} clients  {len(ms) / elapsed:7.0f}/s  "
        f"median {statistics.median(ms):6.1f} ms  p99 {p99:7.1f} ms  (n={len(ms)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unsubscribes", type=int, default=1500, help="one-click requests per level")
    parser.add_argument("--signups", type=int, default=300, help="signups per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--serve", nargs=3, metavar=("WORKSPACE", "PORT", "SINK_PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), int(args.serve[2]))
        return 0

    from delivery_helpers import start_sink

    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        workspace = copy_sample_workspace(Path(tmp) / "ws")
        tokens = prepare(workspace, args.unsubscribes * len(args.clients))
        sink = ArrivalSink()
        controller = start_sink(sink.handler)
        port = free_port()
        command = [sys.executable, __file__, "--serve", str(workspace), str(port), str(controller.port)]
        try:
            with started(command, env=bench_env()):
                wait_for_port(port, timeout=30)
                for level, clients in enumerate(args.clients):
                    batch = tokens[level * args.unsubscribes : (level + 1) * args.unsubscribes]
                    began = time.perf_counter()
                    seconds = run_clients(clients, [unsubscribe_job(t) for t in batch], port)
                    print(line("one-click unsubscribe", clients, seconds, time.perf_counter() - began))
                for clients in args.clients:
                    addresses = [f"signup-{clients}-{n}@example.org" for n in range(args.signups)]
                    began = time.perf_counter()
                    seconds = run_clients(clients, [signup_job(sink, a) for a in addresses], port)
                    print(line("signup to email accepted", clients, seconds, time.perf_counter() - began))
        finally:
            controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

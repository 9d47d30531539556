"""The service under waitress on loopback: bursts of one-click unsubscribes, slow clients, big bodies."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import SECRET, Service, start_service, start_sink_thread
from sqlalchemy import func, select

from newsletter.db import schema as t
from newsletter.db.csvimport import import_csv
from newsletter.mail.tokens import make_token as list_token
from newsletter.web.service.server import CONNECTIONS, Running, make_server

BURST = 1000


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[tuple[Service, Running]]:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    svc = start_service(tmp_path, sink, read_timeout=2)
    # Every test client is 127.0.0.1: the per-client cap is lifted to stand for many clients.
    running = Running(make_server(svc.app, "127.0.0.1", 0, svc.service, per_client=CONNECTIONS))
    yield svc, running
    running.stop()
    svc.close()
    controller.stop()


def readers(svc: Service, count: int) -> list[str]:
    emails = [f"reader{n:04d}@example.org" for n in range(count)]
    csv = svc.root / "burst.csv"
    csv.write_text("email\n" + "\n".join(emails) + "\n")
    import_csv(svc.engine, csv, "readers", None, False)
    return emails


async def one_click(port: int, token: str) -> int:
    """POST the RFC 8058 body on its own connection; the status code (0 if the connection failed)."""
    body = b"List-Unsubscribe=One-Click"
    request = (
        f"POST /unsubscribe?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        status = await reader.readline()
        writer.close()
        return int(status.split()[1])
    except (OSError, IndexError, ValueError):
        return 0


async def burst(port: int, tokens: list[str]) -> list[int]:
    return await asyncio.wait_for(asyncio.gather(*(one_click(port, tok) for tok in tokens)), timeout=180)


def test_a_thousand_concurrent_one_click_unsubscribes_all_land(served):
    svc, running = served
    emails = readers(svc, BURST)
    tokens = [list_token(SECRET.encode(), svc.settings.list_id, e) for e in emails]
    started = time.perf_counter()
    codes = asyncio.run(burst(running.server.effective_port, tokens))
    elapsed = time.perf_counter() - started
    assert codes.count(200) == BURST, {c: codes.count(c) for c in set(codes)}
    with svc.engine.connect() as connection:
        suppressed = connection.execute(select(func.count()).select_from(t.suppressions)).scalar_one()
        unsubscribed = connection.execute(
            select(func.count()).select_from(t.memberships).where(t.memberships.c.status == "unsubscribed")
        ).scalar_one()
    assert suppressed == unsubscribed == BURST
    print(f"\n{BURST} concurrent one-click unsubscribes in {elapsed:.1f} s ({BURST / elapsed:.0f}/s)")


def test_slow_clients_that_never_finish_their_headers_do_not_stop_others(served):
    svc, running = served
    port = running.server.effective_port
    slow = []
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never more
        slow.append(sock)
    try:
        for _ in range(20):  # each answered while the slow ones hold their connections open
            with urllib.request.urlopen(f"{running.url}health", timeout=5) as answer:
                assert answer.status == 200
        # The read timeout (2 s here) closes the silent ones: the server sends EOF.
        slow[0].settimeout(15)
        assert slow[0].recv(100) == b""
    finally:
        for sock in slow:
            sock.close()


def test_a_10_mb_body_is_refused_by_the_server_with_413(served):
    _svc, running = served
    with socket.create_connection(("127.0.0.1", running.server.effective_port), timeout=10) as sock:
        sock.sendall(
            b"POST /signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 10485760\r\n\r\n" + b"a" * 65536
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 413")


def test_newsletter_serve_answers_on_its_port_and_stops_on_sigterm(tmp_path):
    """On a fresh workspace: `serve` creates the database it runs on (no `db upgrade` first)."""
    from sample_workspace import copy_sample_workspace

    root = copy_sample_workspace(tmp_path / "ws")
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    program = "import newsletter.cli.service; from newsletter.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", program, "-w", str(root), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        created = process.stdout.readline()
        assert created.startswith("Created the state database ("), created + process.stderr.read()
        line = process.stdout.readline()
        assert line.startswith("Subscriber service on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[3]
        with urllib.request.urlopen(f"{url}health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert process.returncode == 0
    log = process.stderr.read()
    assert '"route": "/health", "status": 200' in log and "Traceback" not in log
    assert Path(root / ".newsletter").is_dir()


def test_serve_on_a_host_that_does_not_resolve_is_one_line(tmp_path, monkeypatch):
    from factories import invoke
    from sample_workspace import copy_sample_workspace

    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    root = copy_sample_workspace(tmp_path / "ws")
    result = invoke(["-w", str(root), "serve", "--host", "no-such-host.invalid", "--port", "0"])
    assert result.exit_code == 1, result.output
    assert "cannot resolve 'no-such-host.invalid'" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 2  # the database line, then the error


def first_bytes(sock: socket.socket) -> bytes:
    """The start of the answer; b"" when the server closed the connection (reset counts as closed)."""
    try:
        return sock.recv(100)
    except ConnectionResetError:
        return b""


def test_one_client_cannot_hold_more_than_its_share_of_connections(served):
    svc, _ = served
    running = Running(make_server(svc.app, "127.0.0.1", 0, svc.service, per_client=20))
    port = running.server.effective_port
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    try:
        for sock in held:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert first_bytes(extra) == b""  # closed unanswered: this client has its share
        extra.close()
    finally:
        for sock in held:
            sock.close()
    ok = False
    for _ in range(200):  # the server notices the closed ones; then this client is served again
        with socket.create_connection(("127.0.0.1", port), timeout=10) as again:
            again.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if first_bytes(again).startswith(b"HTTP/1.1 200"):
                ok = True
                break
    running.stop()
    assert ok


def test_a_request_trickling_one_header_line_at_a_time_is_closed_after_the_read_timeout(served):
    """A line every 0.5 s keeps the connection active; the request still must arrive within 2 s."""
    _svc, running = served
    sent = 0
    with socket.create_connection(("127.0.0.1", running.server.effective_port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(0.5)
        closed = False
        while sent < 120 and not closed:  # a minute of lines, were it never closed
            try:
                closed = sock.recv(100) == b""
            except TimeoutError:
                try:
                    sock.sendall(b"X-Slow-%d: y\r\n" % sent)
                    sent += 1
                except OSError:
                    closed = True
    assert closed and sent < 120


def test_at_the_file_descriptor_limit_the_log_has_one_line_and_no_traceback(tmp_path):
    """`serve` under a 200-descriptor limit, met by 400 connections at once; then it still answers."""
    import resource

    from sample_workspace import copy_sample_workspace

    root = copy_sample_workspace(tmp_path / "ws")
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    program = "import newsletter.cli.service; from newsletter.cli import main; main()"

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    log_file = tmp_path / "serve.log"  # a file: a full pipe would stall the server's logging
    process = subprocess.Popen(
        [sys.executable, "-c", program, "-w", str(root), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log_file.open("w"),
        env=env,
        text=True,
        preexec_fn=low_limit,  # noqa: PLW1509 - the limit is the point; no threads exist yet
    )
    try:
        process.stdout.readline()  # the database line
        url = process.stdout.readline().split()[3]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        burst = []
        for _ in range(400):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            burst.append(sock)
        answered = sum(first_bytes(sock).startswith(b"HTTP/1.1 200") for sock in burst)
        for sock in burst:
            sock.close()
        with urllib.request.urlopen(f"{url}health", timeout=30) as answer:
            assert answer.status == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    log = log_file.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "the file-descriptor limit allows 72 connections at once" in log
    assert answered == 400  # the rest waited in the backlog for their turn


@pytest.fixture
def patient(tmp_path, monkeypatch) -> Iterator[Service]:
    """A service whose read timeout (120 s) outlasts the tests below: only the limits under test help."""
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    svc = start_service(tmp_path, sink, read_timeout=120)
    yield svc
    svc.close()
    controller.stop()


def attack_and_unsubscribe(svc: Service, attackers: int, per_client: int) -> tuple[int, list[int], int]:
    """200 slow connections from `attackers` addresses, then 100 one-click unsubscribes at once from
    20 others, against a server of 150 connections: (slow ones held, statuses, readers unsubscribed)."""
    from slow_clients import SlowClients, addresses, unsubscribe_burst

    emails = readers(svc, 100)
    tokens = [list_token(SECRET.encode(), svc.settings.list_id, e) for e in emails]
    running = Running(
        make_server(svc.app, "127.0.0.1", 0, svc.service, per_client=per_client, connections=150)
    )
    port = running.server.effective_port
    try:
        with SlowClients(port, 200, addresses("127.0.2", attackers), interval=30) as slow:
            wait_until_settled(slow)
            held = slow.held()
            landed = unsubscribe_burst(
                port, tokens, addresses("127.0.1", 20), timeout=60
            )  # a hang guard only
    finally:
        running.stop()
    with svc.engine.connect() as connection:
        left = connection.execute(
            select(func.count()).select_from(t.memberships).where(t.memberships.c.status == "unsubscribed")
        ).scalar_one()
    return held, [r.status for r in landed], left


def wait_until_settled(slow) -> None:
    """Until the server has accepted or refused every slow connection (held stops changing)."""
    last = -1
    for _ in range(100):
        held = slow.held()
        if held == last:
            return
        last = held
        time.sleep(0.2)


def test_slow_connections_from_one_address_hold_only_its_share_and_readers_get_through(patient):
    held, statuses, left = attack_and_unsubscribe(patient, attackers=1, per_client=50)

    assert held <= 50  # the per-client cap: the other 150 were refused
    assert statuses == [200] * 100 and left == 100


def test_slow_connections_from_many_addresses_filling_the_limit_make_room_for_readers(patient):
    """Eight addresses, each under its cap of 50, fill the 150 connections; readers still land (the
    ones waiting longest for a whole request are closed to make room)."""
    held, statuses, left = attack_and_unsubscribe(patient, attackers=8, per_client=50)

    assert held >= 140  # the limit was full before the readers came
    assert statuses == [200] * 100 and left == 100

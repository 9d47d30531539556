"""A slow-connection attack and a burst of one-click unsubscribes, against a service on loopback.

The attack holds `count` connections, each sending one header line every `interval` seconds and
never ending its headers (slowloris); a connection the server closes is opened again, as an
attacker would. Attackers and readers come from different loopback addresses (127.0.0.0/8 is all
this machine's), so the server tells them apart as it would tell real clients apart. Used by
tests/test_service_server.py at a small scale and bench/bench_slow_clients.py at the issue's.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass


def addresses(prefix: str, count: int) -> list[str]:
    """`count` loopback addresses: addresses("127.0.1", 3) -> 127.0.1.1, 127.0.1.2, 127.0.1.3."""
    return [f"{prefix}.{n}" for n in range(1, count + 1)]


class SlowClients:
    """`count` connections trickling one header line every `interval` s, from `sources` in turn."""

    def __init__(self, port: int, count: int, sources: list[str], interval: float = 10.0):
        self.port, self.count, self.sources, self.interval = port, count, sources, interval
        self.sockets: list[socket.socket | None] = [None] * count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self.opened = threading.Event()  # every connection was opened once

    def __enter__(self) -> SlowClients:
        self._thread.start()
        if not self.opened.wait(timeout=300):
            raise RuntimeError("the slow connections did not open within 300 s")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        for sock in self.sockets:
            if sock is not None:
                sock.close()

    def _open(self, n: int) -> None:
        try:
            sock = socket.create_connection(
                ("127.0.0.1", self.port), timeout=5, source_address=(self.sources[n % len(self.sources)], 0)
            )
            sock.sendall(b"POST /unsubscribe?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
            self.sockets[n] = sock
        except OSError:
            self.sockets[n] = None

    def _trickle(self, n: int, line: bytes) -> None:
        sock = self.sockets[n]
        try:
            if sock is None or sock.recv(1) == b"":  # closed by the server
                raise ConnectionResetError
        except BlockingIOError:  # still open, nothing said: trickle the next line
            try:
                sock.send(line)  # type: ignore[union-attr]
                return
            except OSError:
                pass
        except OSError:
            pass
        if sock is not None:
            sock.close()
        self.reopened += 1
        self._open(n)

    def _run(self) -> None:
        for n in range(self.count):
            self._open(n)
        self.opened.set()
        lines = 0
        while not self._stop.wait(self.interval):
            lines += 1
            for n in range(self.count):
                if self._stop.is_set():
                    return
                self._trickle(n, b"X-Slow-%d: y\r\n" % lines)

    def held(self) -> int:
        """How many of the connections are open now (accepted, or still in the backlog): not closed."""
        held = 0
        for sock in self.sockets:
            if sock is None:
                continue
            try:
                held += sock.recv(1) != b""
            except BlockingIOError:
                held += 1
            except OSError:
                pass
        return held


@dataclass(frozen=True)
class Landed:
    seconds: float  # from the burst's start to this answer
    status: int  # 0: the connection failed


def unsubscribe_burst(
    port: int, tokens: list[str], sources: list[str], timeout: float = 60.0
) -> list[Landed]:
    """Every token's one-click POST at once, each on its own connection from `sources` in turn."""
    barrier = threading.Barrier(len(tokens) + 1)
    results: list[Landed | None] = [None] * len(tokens)
    began = [0.0]

    def one(n: int) -> None:
        barrier.wait(timeout=120)
        status = 0
        try:
            connection = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=timeout, source_address=(sources[n % len(sources)], 0)
            )
            connection.request(
                "POST",
                f"/unsubscribe?token={tokens[n]}",
                body=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = connection.getresponse()
            answer.read()
            status = answer.status
            connection.close()
        except (OSError, http.client.HTTPException):
            pass
        results[n] = Landed(time.perf_counter() - began[0], status)

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(len(tokens))]
    for thread in threads:
        thread.start()
    began[0] = time.perf_counter()
    barrier.wait(timeout=120)
    for thread in threads:
        thread.join(timeout=timeout + 10)
    return [r if r is not None else Landed(float("inf"), 0) for r in results]

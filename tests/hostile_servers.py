"""Hostile loopback servers for the fault tests: SMTP servers that stall, drop, refuse or lie, and a slow SES.

Each server counts the messages it *has* per recipient: the SMTP servers once the final "." arrived
(a real server queues the message then, whatever becomes of its reply), the SES endpoint once the
whole request body arrived. So a test asserts what readers would really get, not what the client
believes. Everything listens on 127.0.0.1 only, waits at most `IDLE_LIMIT` seconds for a client,
and stops promptly when its `with` block ends.

Imported by its bare name (`from hostile_servers import ...`), like `delivery_helpers`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDLE_LIMIT = 20.0  # seconds a server waits for the client's next line before hanging up
# Retitles the terminal, rings the bell, fakes red text and clears the screen, if printed raw.
ESCAPES = "\x1b]0;pwned\x07\x1b[31mFAKE ERROR\x1b[0m\x1b[2J\x9b0m"


@dataclass(frozen=True)
class SmtpBehaviour:
    """How a hostile SMTP server misbehaves; the default is a well-behaved server."""

    final_reply_delay: float = 0.0  # seconds before answering the final "." (the message is kept)
    drop_mid_data: bool = False  # hang up halfway through the message body (nothing kept)
    drop_after_final_dot: bool = False  # hang up instead of answering the final "." (the message is kept)
    reply_421_at: str | None = None  # "greeting", "mail", "rcpt" or "final": answer 421 there and hang up
    silent_after_greeting: bool = False  # greet, then never answer anything
    text: str = "OK"  # the text of every reply (put escape sequences here)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> a fixed RCPT reply
    pipelining: bool = False  # offer PIPELINING (RFC 2920): the client may send MAIL, RCPT, DATA at once


def late_final_reply(delay: float) -> SmtpBehaviour:
    return SmtpBehaviour(final_reply_delay=delay)


def drops_mid_data() -> SmtpBehaviour:
    return SmtpBehaviour(drop_mid_data=True)


def drops_after_final_dot() -> SmtpBehaviour:
    return SmtpBehaviour(drop_after_final_dot=True)


def answers_421(at: str) -> SmtpBehaviour:
    return SmtpBehaviour(reply_421_at=at)


def silent_after_greeting() -> SmtpBehaviour:
    return SmtpBehaviour(silent_after_greeting=True)


def escape_replies(refused: str) -> SmtpBehaviour:
    """Every reply carries terminal escape sequences; `refused` gets a 550 that carries them too."""
    return SmtpBehaviour(text=f"OK {ESCAPES}", rcpt_replies={refused: f"550 5.1.1 {ESCAPES} user unknown"})


class HostileSmtpServer:
    """A small SMTP server on its own event loop thread, misbehaving as `behaviour` says."""

    def __init__(self, behaviour: SmtpBehaviour):
        self.behaviour = behaviour
        self.port = 0
        self.connections = 0
        self._kept: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-smtp", daemon=True)
        self._server: asyncio.Server | None = None

    def received(self) -> dict[str, int]:
        """Messages kept per recipient (what readers would get)."""
        with self._lock:
            return dict(self._kept)

    def __enter__(self) -> HostileSmtpServer:
        self._thread.start()
        start = asyncio.start_server(self._session, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            await self._converse(reader, writer)
        except (TimeoutError, ConnectionError):
            pass  # the client went away or stayed silent too long: the session is over either way
        finally:
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b = self.behaviour

        async def reply(line: str) -> None:
            writer.write(line.encode("utf-8") + b"\r\n")
            await writer.drain()

        if b.reply_421_at == "greeting":
            return await reply("421 4.3.2 too busy, come back later")
        await reply(f"220 hostile.example ESMTP {b.text}")
        recipients: list[str] = []
        while True:
            line = await asyncio.wait_for(reader.readline(), IDLE_LIMIT)
            if not line:
                return
            if b.silent_after_greeting:
                continue
            verb, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                await reply(f"250-hostile.example {b.text}")
                if b.pipelining:
                    await reply("250-PIPELINING")
                await reply("250 8BITMIME")
            elif verb == "MAIL":
                recipients = []
                if b.reply_421_at == "mail":
                    return await reply("421 4.3.2 shutting down")
                await reply(f"250 2.1.0 {b.text}")
            elif verb == "RCPT":
                address = arg.partition("<")[2].partition(">")[0]
                if b.reply_421_at == "rcpt":
                    return await reply("421 4.3.2 shutting down")
                if address in b.rcpt_replies:
                    await reply(b.rcpt_replies[address])
                else:
                    recipients.append(address)
                    await reply(f"250 2.1.5 {b.text}")
            elif verb == "DATA":
                await reply("354 end with <CRLF>.<CRLF>")
                if not await self._take_body(reader, writer, recipients):
                    return
            elif verb == "QUIT":
                return await reply(f"221 2.0.0 bye {b.text}")
            elif verb in ("RSET", "NOOP"):
                await reply(f"250 2.0.0 {b.text}")
            else:
                await reply("502 5.5.2 command not implemented")

    async def _take_body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, recipients: list[str]
    ) -> bool:
        """Read one message body and answer its final "."; False when the session should end."""
        b = self.behaviour
        lines = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), IDLE_LIMIT)
            if not line:
                return False
            lines += 1
            if b.drop_mid_data and lines == 10:
                return False  # halfway: the client never got to send the final "."
            if line == b".\r\n":
                break
        if b.reply_421_at == "final":
            writer.write(b"421 4.3.2 shutting down, message not accepted\r\n")
            await writer.drain()
            return False
        with self._lock:
            self._kept.update(recipients)
        if b.drop_after_final_dot:
            return False
        await asyncio.sleep(b.final_reply_delay)
        writer.write(f"250 2.0.0 queued {b.text}\r\n".encode())
        await writer.drain()
        return True


class SlowSesEndpoint:
    """A loopback SES v2 endpoint that takes each whole request, then answers after `delay` seconds.

    With `drop=True` it hangs up instead of answering; with `hang_up_after_answer=True` it answers
    as if keeping the connection alive, then closes it (as servers do with idle connections). Each
    request is checked for what the SES API documents (POST to the SendEmail path, a Signature V4
    Authorization); `problems` lists any departure.
    """

    def __init__(self, delay: float = 0.0, drop: bool = False, hang_up_after_answer: bool = False):
        self.delay, self.drop, self.hang_up_after_answer = delay, drop, hang_up_after_answer
        self.problems: list[str] = []
        self._kept: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def received(self) -> dict[str, int]:
        with self._lock:
            return dict(self._kept)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = IDLE_LIMIT

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.take(self.path, self.headers.get("Authorization", ""), body)
                if endpoint._stopping.wait(endpoint.delay) or endpoint.drop:
                    self.close_connection = True
                    return
                data = json.dumps({"MessageId": "slow-1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = endpoint.hang_up_after_answer

        return Handler

    def take(self, path: str, authorization: str, body: bytes) -> None:
        with self._lock:
            if path != "/v2/email/outbound-emails":
                self.problems.append(f"path {path}")
            if not authorization.startswith("AWS4-HMAC-SHA256 Credential="):
                self.problems.append("no Signature V4 Authorization header")
            self._kept.update(json.loads(body)["Destination"]["ToAddresses"])

    def __enter__(self) -> SlowSesEndpoint:
        threading.Thread(target=self._server.serve_forever, name="slow-ses", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes the handlers still waiting to answer
        self._server.shutdown()
        self._server.server_close()

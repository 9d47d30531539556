"""Shared parts of the subscriber service's tests: a workspace with its database, a mail sink, the app.

Imported by its bare name (`from service_helpers import ...`), like `delivery_helpers`.
"""

from __future__ import annotations

import dataclasses
import quopri
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import RecordingSink, start_sink
from sample_workspace import copy_sample_workspace
from sqlalchemy import Engine

from newsletter.db.engine import database_url, open_engine
from newsletter.db.revisions import upgrade
from newsletter.store.config import Settings, load_settings
from newsletter.web.service import create_app
from newsletter.web.service.mailqueue import MailQueue
from newsletter.web.service.settings import ServiceSettings

SECRET = "a-test-signing-key-that-is-long-enough-0123456789"
ORIGIN = "https://msresearch.example.org"


class MailSink(RecordingSink):
    """The delivery tests' aiosmtpd handler, with a wait for the messages a request sends."""

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, parsed, once they have arrived (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return [parse(m) for m in self.messages[:count]]
            time.sleep(0.01)
        raise AssertionError(f"expected {count} message(s) at the sink, got {len(self.messages)}")


def parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.SMTP)  # type: ignore[return-value]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """The first link to the service's `path` (confirm, preferences...) in the message's text part."""
    found = re.search(rf"https?://\S+/{path}\?token=\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def token_of(link: str) -> str:
    return link.partition("?token=")[2]


def raw_text(data: bytes) -> str:
    return quopri.decodestring(data).decode("utf-8", "replace")


@dataclass
class Service:
    """Everything one test's service is made of; `client` is Flask's test client on it."""

    root: Path
    settings: Settings
    service: ServiceSettings
    engine: Engine
    sink: MailSink
    app: Any
    mail: MailQueue

    @property
    def client(self) -> Any:
        return self.app.test_client()

    def close(self) -> None:
        self.mail.close(timeout=2)
        self.engine.dispose()


def service_settings(base_url: str = "http://127.0.0.1:8030/", **changes: Any) -> ServiceSettings:
    return dataclasses.replace(ServiceSettings(base_url, (ORIGIN,)), **changes)


def start_service(
    tmp: Path,
    sink: MailSink,
    base_url: str = "http://127.0.0.1:8030/",
    database: str | None = None,
    busy_timeout: float = 30.0,
    **changes: Any,
) -> Service:
    """The sample workspace in `tmp` with an upgraded database, its mail going to `sink` over SMTP."""
    root = copy_sample_workspace(tmp / "ws")
    settings = dataclasses.replace(load_settings(root), provider=f"smtp://127.0.0.1:{sink.port}?starttls=no")
    engine = open_engine(database_url(root, database, {}), busy_timeout=busy_timeout)
    upgrade(engine)
    service = service_settings(base_url, **changes)
    from newsletter.providers import open_provider

    mail = MailQueue(engine, lambda: open_provider(None, settings), workers=2, attempts=3, backoff=(0.2, 0.5))
    app = create_app(settings, engine, service=service, mail=mail)
    return Service(root, settings, service, engine, sink, app, mail)


def start_sink_thread() -> tuple[MailSink, Any]:
    sink = MailSink()
    controller = start_sink(sink)
    sink.port = controller.port  # type: ignore[attr-defined]
    return sink, controller


def signup_form(email: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "first_name": "", "consent": "yes", **fields}


def in_threads(count: int, work: Any) -> list[Any]:
    """Run `work(n)` for n in range(count), all at once in threads; their results in order."""
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait(timeout=30)
        results[n] = work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The service on a copy of the sample workspace, its mail going to a loopback sink."""
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    service = start_service(tmp_path, sink)
    yield service
    service.close()
    controller.stop()

"""A message factory over a two-line rendering, for the provider tests: they need messages, not layout.

Imported by its bare name (`from message_helpers import ...`), like `delivery_helpers`.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.mail.factory import MessageFactory
from newsletter.mail.renderings import Rendered
from newsletter.store.config import load_settings
from newsletter.store.subscriber_files import Subscriber

SECRET = b"test-secret-0123456789abcdef"


def tiny_factory(workspace: Path, test: bool = False) -> MessageFactory:
    """Messages with the workspace's settings and a tiny body that still carries every token."""
    rendered = Rendered(
        "2026-06", "June issue", "<p>Hi __NL_NAME__</p>", "Hi __NL_NAME__\n__NL_UNSUBSCRIBE_URL__\n"
    )
    return MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET, test=test)


def reader(email: str) -> Subscriber:
    """A subscriber of the `readers` list with this address."""
    return Subscriber(email, "Reader", (), "subscribed", "", "readers")

"""`send --test-to`: a proof of an issue with [TEST] in the subject, to any addresses, recorded nowhere."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.delivery.reporting import Reporter
from newsletter.delivery.send import close_quietly, load_ready_issue, signing_secret
from newsletter.mail.factory import MessageFactory
from newsletter.providers import open_provider
from newsletter.providers.base import SendResult
from newsletter.store.config import Settings


@dataclass(frozen=True)
class ProofResult:
    address: str
    result: SendResult


def send_test(
    settings: Settings, issue_id: str, addresses: list[str], provider: str | None, reporter: Reporter
) -> list[ProofResult]:
    """Send one proof to each address (each built before any is sent, so a bad address sends none)."""
    issue, summaries = load_ready_issue(settings, issue_id)
    connection = open_provider(provider, settings)  # connects on the first send
    try:
        secret = signing_secret(connection, reporter)
        factory = MessageFactory.for_issue(settings, issue, summaries, secret, test=True)
        messages = [factory.build(address) for address in addresses]
        return [ProofResult(m.envelope_to, connection.send(m)) for m in messages]
    finally:
        close_quietly(connection)

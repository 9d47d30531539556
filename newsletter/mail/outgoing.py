"""One finished message for one recipient, as the mail stage hands it to a provider."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutgoingMessage:
    """One finished message for one recipient: envelope plus the serialised bytes (CRLF lines)."""

    issue_id: str
    envelope_from: str
    envelope_to: str
    message_id: str  # the Message-ID header, with angle brackets
    data: bytes
    test: bool = False  # a proof (`send --test-to`): the outbox keeps it apart from real messages
    # The From header's address, when the envelope sender differs from it (a VERP bounce address).
    from_address: str = ""

    @property
    def sender(self) -> str:
        """The author's address (From), whatever the envelope sender is."""
        return self.from_address or self.envelope_from

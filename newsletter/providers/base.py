"""The small protocol every provider follows, and the message and result it deals in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """One finished message for one recipient: envelope plus the serialised bytes (CRLF lines)."""

    issue_id: str
    envelope_from: str
    envelope_to: str
    message_id: str  # the Message-ID header, with angle brackets
    data: bytes
    test: bool = False  # a proof (`send --test-to`): the outbox keeps it apart from real messages


SendStatus = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True)
class SendResult:
    """What the provider said: accepted, a failure worth retrying, or one that is final."""

    status: SendStatus
    detail: str = ""  # the server's reply or error, never a secret
    provider_id: str | None = None  # the provider's own id for the message, when it gives one

    @property
    def ok(self) -> bool:
        return self.status == "sent"


class Provider(Protocol):
    """A connection to a mail system. One instance per concurrent connection."""

    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...

    def close(self) -> None: ...

"""The small protocol every provider follows, and the message and result it deals in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from newsletter.mail.outgoing import OutgoingMessage

__all__ = ["OutgoingMessage", "Provider", "SendResult", "SendStatus"]


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

"""The small protocol every provider follows, and the message and result it deals in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from newsletter.mail.outgoing import OutgoingMessage
from newsletter.text import printable

__all__ = ["OutgoingMessage", "Provider", "SendResult", "SendStatus"]


# `unknown`: the connection failed after the whole message was handed over (SMTP after the final
# ".", an HTTP API after the request body), so the server may have accepted it. It is neither a
# failure to retry nor a final one: only the operator may send it again (`--resend-unknown`).
SendStatus = Literal["sent", "transient", "permanent", "unknown"]


@dataclass(frozen=True)
class SendResult:
    """What the provider said: accepted, a failure worth retrying, one that is final, or unknown."""

    status: SendStatus
    detail: str = ""  # the server's reply or error, never a secret; printable (controls escaped)
    provider_id: str | None = None  # the provider's own id for the message, when it gives one

    def __post_init__(self) -> None:
        # Server text ends up in the ledger, on the terminal and in cron logs: nothing raw gets through.
        object.__setattr__(self, "detail", printable(self.detail, limit=500))
        if self.provider_id is not None:
            object.__setattr__(self, "provider_id", printable(self.provider_id, limit=200))

    @property
    def ok(self) -> bool:
        return self.status == "sent"


Ready = Callable[[], None]  # see Provider.send


class Provider(Protocol):
    """A connection to a mail system. One instance per concurrent connection."""

    name: str

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        """Hand the message over. `ready` (the ledger's `sending`) is called once, after whatever cannot
        deliver the message and before the hand-over: SMTP, when the server pipelines, calls it with the
        body sent but for its final ".", so the ledger's write and the transfer overlap. If `ready`
        raises, nothing is handed over and its exception comes out of `send` unchanged."""
        ...

    def close(self) -> None: ...

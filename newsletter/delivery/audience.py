"""Who a run sends to: the state database's audience streamed into the ledger (whose rows the message
factory takes as they are), and the suppression list looked up as the run goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Engine

from newsletter.db import suppression
from newsletter.db.audience import AudienceTally, Member, iter_audience
from newsletter.delivery.records import NewRecipient

__all__ = ["AudienceTally", "emails", "mark_bounced", "recipients"]


def new_recipient(member: Member) -> NewRecipient:
    """A member of the audience as the ledger row that fixes what their message carries."""
    return NewRecipient(
        member.email,
        member.list_name,
        member.name,
        member.topics,
        member.subscribed_at,
        member.first_name,
        member.large_text,
    )


def recipients(
    engine: Engine, lists: tuple[str, ...] | None, tally: AudienceTally | None = None
) -> Iterator[NewRecipient]:
    """The audience of the chosen lists (all when None) as ledger rows, streamed."""
    for member in iter_audience(engine, lists, tally):
        yield new_recipient(member)


def emails(engine: Engine, lists: tuple[str, ...] | None, tally: AudienceTally) -> Iterator[str]:
    """Just the addresses of the audience, streamed (for counting who is already in a run)."""
    for member in iter_audience(engine, lists, tally):
        yield member.email


def mark_bounced(engine: Engine) -> Callable[[str, str], None]:
    """A hard bounce: the address is marked bounced in its lists and suppressed from then on."""
    return lambda email, reason: _bounced(engine, email, reason)


def _bounced(engine: Engine, email: str, reason: str) -> None:
    suppression.mark_bounced(engine, email, reason)

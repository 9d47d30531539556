"""What a delivery status code means for the address: hard (never again), soft (count), or no failure.

RFC 3463 enhanced status codes: class 5 is permanent, class 4 transient. Whether a code says the
address is dead is the one hard-bounce table in providers.replies, which the send uses for a
refusal on the spot: the same words give the same verdict whichever way they arrive.
"""

from __future__ import annotations

from enum import StrEnum

from newsletter.providers.replies import STATUS_CODE, best_status, is_hard_status, meaning, status_in

__all__ = ["Kind", "action_kind", "best_status", "kind_of", "meaning", "status_in"]


class Kind(StrEnum):
    HARD = "hard"  # suppress at once
    SOFT = "soft"  # count; suppress after N in M issues
    COMPLAINT = "complaint"  # suppress at once
    WARNING = "warning"  # delayed, delivered, relayed: no failure (yet), no decision
    AUTO_REPLY = "auto_reply"  # vacation and other auto-responders (RFC 3834): no decision
    UNRECOGNISED = "unrecognised"  # left in the mailbox for a person


def kind_of(status: str) -> Kind:
    """The kind for an enhanced status code such as 5.1.1, by the one hard-bounce table
    (providers.replies); an unknown code counts as soft."""
    if is_hard_status(status):
        return Kind.HARD
    if STATUS_CODE.fullmatch(status) and status.startswith("2."):
        return Kind.WARNING
    return Kind.SOFT


def action_kind(action: str, status: str | None) -> Kind:
    """A DSN recipient block's kind from its Action (RFC 3464 2.3.3) and status code."""
    verb = action.strip().lower()
    if verb.startswith(("delayed", "delivered", "relayed", "expanded")):
        return Kind.WARNING
    if not verb.startswith(("failed", "error")) or status is None:  # `error` is opensmtpd's spelling
        return Kind.UNRECOGNISED
    return kind_of(status)

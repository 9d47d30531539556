"""What a delivery status code means for the address: hard (never again), soft (count), or no failure.

RFC 3463 enhanced status codes: class 5 is permanent, class 4 transient; the subject and detail
say whether the address is at fault (5.1.x: no such mailbox) or something else is (5.2.2: the
mailbox is full; 5.7.x: a policy refused this message). Only what says the address is dead is
hard; everything else is counted, so nobody is suppressed because of one refused message.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    HARD = "hard"  # suppress at once
    SOFT = "soft"  # count; suppress after N in M issues
    COMPLAINT = "complaint"  # suppress at once
    WARNING = "warning"  # delayed, delivered, relayed: no failure (yet), no decision
    AUTO_REPLY = "auto_reply"  # vacation and other auto-responders (RFC 3834): no decision
    UNRECOGNISED = "unrecognised"  # left in the mailbox for a person


STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45])\d\d\b")

# (prefix of the code, kind, what it means); the longest matching prefix wins.
TABLE: tuple[tuple[str, Kind, str], ...] = (
    ("5.0.0", Kind.HARD, "permanent failure, no detail (the report says so, no more)"),
    ("5.1.", Kind.HARD, "bad destination address: no such mailbox, bad domain, bad syntax, moved"),
    ("5.1.10", Kind.HARD, "the recipient's domain has a null MX (RFC 7505): it accepts no mail"),
    ("5.2.1", Kind.HARD, "mailbox disabled, not accepting messages"),
    ("5.2.2", Kind.SOFT, "mailbox full (over quota)"),
    ("5.2.", Kind.SOFT, "mailbox status: too large for the mailbox, other"),
    ("5.3.", Kind.SOFT, "the receiving system's trouble (full disk, not accepting mail)"),
    ("5.4.4", Kind.HARD, "unable to route: the domain does not exist"),
    ("5.4.", Kind.SOFT, "network or routing trouble (no answer, loop)"),
    ("5.5.", Kind.SOFT, "mail protocol trouble"),
    ("5.6.", Kind.SOFT, "the message's content or media was refused"),
    (
        "5.7.",
        Kind.SOFT,
        "refused by policy (spam, reputation, authentication): our problem, not the address's",
    ),
    ("5.", Kind.SOFT, "other permanent failure"),
    ("4.", Kind.SOFT, "transient: mailbox full (4.2.2), greylisting (4.7.1, 4.2.0), no answer, over limit"),
    ("2.", Kind.WARNING, "delivered or relayed"),
)


def kind_of(status: str) -> Kind:
    """The kind for an enhanced status code such as 5.1.1 (an unknown code counts as soft)."""
    best = max((prefix for prefix, _, _ in TABLE if status.startswith(prefix)), key=len, default=None)
    if best is None or not STATUS_CODE.fullmatch(status):
        return Kind.SOFT
    return next(kind for prefix, kind, _ in TABLE if prefix == best)


def meaning(status: str) -> str:
    best = max((prefix for prefix, _, _ in TABLE if status.startswith(prefix)), key=len, default="")
    return next((text for prefix, _, text in TABLE if prefix == best), "unknown status")


def status_in(text: str) -> str | None:
    """The first enhanced status code in a diagnostic or a report's text, else None."""
    found = STATUS_CODE.search(text)
    return ".".join(found.groups()) if found else None


def best_status(status_field: str, diagnostic: str) -> str | None:
    """A DSN's code: its Status field, made more precise by the diagnostic when Status is only x.0.0."""
    given = status_in(status_field)
    told = status_in(diagnostic)
    if given and told and given.endswith(".0.0") and told[0] == given[0]:
        return told
    if given:
        return given
    if told:
        return told
    reply = _SMTP_REPLY.search(diagnostic)  # a bare SMTP reply: 550 -> 5.0.0, 450 -> 4.0.0
    return f"{reply.group(1)}.0.0" if reply else None


def action_kind(action: str, status: str | None) -> Kind:
    """A DSN recipient block's kind from its Action (RFC 3464 2.3.3) and status code."""
    verb = action.strip().lower()
    if verb.startswith(("delayed", "delivered", "relayed", "expanded")):
        return Kind.WARNING
    if not verb.startswith(("failed", "error")) or status is None:  # `error` is opensmtpd's spelling
        return Kind.UNRECOGNISED
    return kind_of(status)

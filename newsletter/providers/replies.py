"""What a mail server's reply means for the address: the one hard-bounce rule (RFC 3463 status codes).

A refusal during the send (`is_hard_bounce`) and a report that arrives later (bounces.classify) go
through this one table, so the same words get the same verdict whichever way they come. Only a code
saying the address is dead is hard (the reader is suppressed at once); everything else is counted,
so nobody is suppressed because one message was refused (a 550 5.7.1 spam rejection, a full mailbox).
"""

from __future__ import annotations

import re

from newsletter.providers.base import SendResult

STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"\b([245])\d\d\b")

# (prefix of the code, hard, what it means); the longest matching prefix wins.
TABLE: tuple[tuple[str, bool, str], ...] = (
    ("5.0.0", True, "permanent failure about the address, no detail (the reply says no more)"),
    ("5.1.", True, "bad destination address: no such mailbox, bad domain, bad syntax, moved"),
    ("5.1.10", True, "the recipient's domain has a null MX (RFC 7505): it accepts no mail"),
    ("5.2.1", True, "mailbox disabled, not accepting messages"),
    ("5.2.2", False, "mailbox full (over quota)"),
    ("5.2.", False, "mailbox status: too large for the mailbox, other"),
    ("5.3.", False, "the receiving system's trouble (full disk, not accepting mail)"),
    ("5.4.4", True, "unable to route: the domain does not exist"),
    ("5.4.", False, "network or routing trouble (no answer, loop)"),
    ("5.5.", False, "mail protocol trouble"),
    ("5.6.", False, "the message's content or media was refused"),
    ("5.7.", False, "refused by policy (spam, reputation, authentication): our problem, not the address's"),
    ("5.", False, "other permanent failure"),
    ("4.", False, "transient: mailbox full (4.2.2), greylisting (4.7.1, 4.2.0), no answer, over limit"),
    ("2.", False, "delivered or relayed"),
)


def _entry(status: str) -> tuple[str, bool, str] | None:
    if not STATUS_CODE.fullmatch(status):
        return None
    found = [entry for entry in TABLE if status.startswith(entry[0])]
    return max(found, key=lambda entry: len(entry[0]), default=None)


def is_hard_status(status: str | None) -> bool:
    """Whether an enhanced status code such as 5.1.1 says the address is dead."""
    entry = _entry(status or "")
    return entry is not None and entry[1]


def meaning(status: str) -> str:
    entry = _entry(status)
    return entry[2] if entry else "unknown status"


def status_in(text: str) -> str | None:
    """The first enhanced status code in a reply or a report's text, else None."""
    found = STATUS_CODE.search(text)
    return ".".join(found.groups()) if found else None


def best_status(status_field: str, diagnostic: str) -> str | None:
    """The code a reply or a report gives: its Status field, made more precise by the diagnostic when
    Status is only x.0.0; else the diagnostic's own code; else a bare reply's class, as a mail server
    writes it in its report (550 -> 5.0.0, 451 -> 4.0.0)."""
    given = status_in(status_field)
    told = status_in(diagnostic)
    if given and told and given.endswith(".0.0") and told[0] == given[0]:
        return told
    if given or told:
        return given or told
    reply = _REPLY_CODE.search(diagnostic)
    return f"{reply.group(1)[0]}.0.0" if reply else None


def is_hard_bounce(result: SendResult) -> bool:
    """A server's refusal during the send that says the address is dead (the same rule as a report's)."""
    return result.status == "permanent" and is_hard_status(best_status("", result.detail))

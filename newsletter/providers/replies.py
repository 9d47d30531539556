"""What a mail server's reply means for the reader: SMTP reply codes and enhanced status codes (RFC 3463)."""

from __future__ import annotations

import re

from newsletter.providers.base import SendResult

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"^\s*(\d{3})\b")
_BAD_ADDRESS_CODES = ("550", "551", "553")


def is_hard_bounce(result: SendResult) -> bool:
    """A permanent failure about the recipient's address, not about the message or the sender.

    With an enhanced status code (RFC 3463) only 5.1.x (bad address) and 5.2.1 (mailbox disabled)
    count: a 550 5.7.1 spam rejection must not unsubscribe a reader. Without one, 550, 551 and 553.
    """
    if result.status != "permanent":
        return False
    enhanced = _ENHANCED.search(result.detail)
    if enhanced:
        klass, subject, detail = enhanced.groups()
        return klass == "5" and (subject == "1" or (subject, detail) == ("2", "1"))
    code = _REPLY_CODE.match(result.detail)
    return code is not None and code.group(1) in _BAD_ADDRESS_CODES

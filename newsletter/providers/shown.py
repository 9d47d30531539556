"""What a provider may show: URLs without credentials (outside text goes through newsletter.text)."""

from __future__ import annotations

import re

from newsletter.text import printable

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*?)(?:password|passwd|pass|secret|token|key|signature|sig|auth|credential)"
    r"[\w.-]*=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)
REDACTED = "***"


def redact_url(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by ***.

    The whole user-info part goes (`ses://KEY:SECRET@region` -> `ses://***@region`), since a secret
    pasted as the user name is as secret as a password; so do query values named like secrets.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@" if m["userinfo"] else m[0], text)
    return _SECRET_PARAM.sub(lambda m: m["name"] + REDACTED, text)


def shown_url(url: str) -> str:
    """A URL as it may appear in an error or a repr: credentials redacted, controls escaped."""
    return printable(redact_url(url))

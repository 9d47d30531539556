"""Per-recipient parts of a rendered issue: placeholder tokens, substituted cheaply per message.

Rendering (Jinja2, MJML, premailer) runs once per issue; the few values that differ per
recipient are written into the output as tokens and replaced here. Tokens are plain ASCII words
with underscores so that MJML, premailer and quoted-printable encoding all leave them intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Recipient:
    """The values that differ per message."""

    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str

    @property
    def greeting(self) -> str:
        """Whom "Hi ...," addresses: the reader's name, or "there" when the list has none."""
        return self.name.strip() or "there"


# Token -> Recipient attribute. Templates write the token where the value goes.
TOKENS = {
    "__NL_NAME__": "greeting",
    "__NL_EMAIL__": "email",
    "__NL_UNSUBSCRIBE_URL__": "unsubscribe_url",
    "__NL_PREFERENCES_URL__": "preferences_url",
}


def personalize_text(text: str, recipient: Recipient) -> str:
    for token, attr in TOKENS.items():
        text = text.replace(token, getattr(recipient, attr))
    return text


def personalize_html(html: str, recipient: Recipient) -> str:
    # Values land in text and in attributes (href), so escape quotes too.
    for token, attr in TOKENS.items():
        html = html.replace(token, escape(getattr(recipient, attr), quote=True))
    return html

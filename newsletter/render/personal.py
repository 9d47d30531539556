"""Per-recipient parts of a rendered issue: placeholder tokens, substituted cheaply per message.

Rendering (Jinja2, MJML, premailer) runs once per issue; the few values that differ per
recipient are written into the output as tokens and replaced here. Tokens are plain ASCII words
with underscores so that MJML, premailer and quoted-printable encoding all leave them intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from newsletter import names
from newsletter.render import reader_text

# What a filtered rendering says the reader chose when it does not know (a render made by hand).
SOME_TOPICS = "a few topics"


@dataclass(frozen=True)
class Recipient:
    """The values that differ per message."""

    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str
    first_name: str = ""  # a first-name field, when the list has one
    topics: tuple[str, ...] = ()  # the topics the reader chose, as they named them

    @property
    def greeting(self) -> str:
        """Whom the email greets ("Erin", "Dr. Ångström", else "there"), for templates that write
        "Hi {{ token.greeting }}," (those written before `salutation`): the same line either way."""
        return names.greeting_name(self.first_name, self.name) or names.NO_NAME

    @property
    def salutation(self) -> str:
        """The email's first line: "Hi Erin," where a name to greet is known, else "Hi there,"."""
        return names.greeting(names.greeting_name(self.first_name, self.name))

    @property
    def topics_phrase(self) -> str:
        """The reader's topics as a sentence names them: "Gut and MRI"."""
        return reader_text.topic_list(self.topics) or SOME_TOPICS


# Token -> Recipient attribute. Templates write the token where the value goes.
TOKENS = {
    "__NL_NAME__": "greeting",
    "__NL_SALUTATION__": "salutation",
    "__NL_TOPICS__": "topics_phrase",
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

"""What the message factory takes of a subscriber, and the topic names a subscriber may choose.

Subscribers live in the state database (`newsletter.db`); CSV files are only exchanged (`subscribers
import` and `export`, read by `newsletter.db.csvformats`), and an old workspace's lists are moved into
the database once (`newsletter.db.migrate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.store.addresses import address_key
from newsletter.store.topics import Taxonomy

SUBSCRIBERS_DIR = "subscribers"  # exchange files and the sample list; personal data stays out of git


@dataclass(frozen=True)
class Subscriber:
    """One recipient as a message is personalised for; `email` is normalised (the domain lower-cased)."""

    email: str
    name: str
    topics: tuple[str, ...]
    status: str
    subscribed_at: str
    list_name: str
    first_name: str = ""  # how the email greets them; "" lets the greeting come from `name`
    large_text: bool = False  # the larger-text edition

    @property
    def key(self) -> str:
        return address_key(self.email)


def topic_vocabulary(taxonomy: Taxonomy) -> dict[str, str]:
    """Every preference a subscriber may name: section titles and tags, casefolded -> as written."""
    names = [s.title for s in taxonomy.sections] + [taxonomy.more_research] + list(taxonomy.vocabulary)
    vocabulary: dict[str, str] = {}
    for name in names:
        vocabulary.setdefault(name.casefold(), name)
    return vocabulary

"""The delivery ledger of a workspace: the runs and recipient states in its state database.

A recipient moves `pending` -> `sending` -> `sent` | `failed_transient` | `failed_permanent` |
`skipped`, and `sending` left behind by a crash becomes `unknown`. The `sending` row is committed
before a message is handed to the provider and `sent` as soon as the provider accepts it, so after
a crash the ledger knows exactly who may have got a message twice (at most one per connection) and
who surely has not. Only the delivery stage writes delivery state.
"""

from __future__ import annotations

from newsletter.db.engine import DatabaseError
from newsletter.db.ledger import Ledger, carried_summaries
from newsletter.db.state import open_state
from newsletter.delivery.records import NewRecipient
from newsletter.store.config import Settings

# Every fault of the database (locked, read-only, full, damaged, unreachable) is one line.
LedgerError = DatabaseError

__all__ = ["Ledger", "LedgerError", "NewRecipient", "carried_summaries", "open_ledger"]


def open_ledger(settings: Settings) -> Ledger:
    """The workspace's ledger as one sending worker (close it, or use it in a `with`)."""
    return Ledger(open_state(settings))

"""A notification -> the one recipient and issue it concerns, on proof: its VERP token or our Message-ID.

Anyone can send a report naming any address to the public bounce address, so a report counts
only when it carries something only the real recipient's mail server could: the VERP token of the
envelope sender (signed for that recipient and issue; it decides when there is one, since the
address that failed may be a forward of ours), else our Message-ID quoted from the original
(a keyed digest per recipient and issue, looked up in the ledger; providers that rewrite the
envelope quote it). A report with neither is unverified: kept and listed, never acted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from newsletter.bounces.classify import Kind
from newsletter.bounces.notice import Failure, Notice
from newsletter.db import schema as t
from newsletter.mail import verp

_DECIDED = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)


@dataclass(frozen=True)
class Match:
    failure: Failure
    issue_id: str
    email: str
    via: str  # verp, message-id, ses (the provider's own id for the message)


@dataclass
class Recipients:
    """Finds recipients for tokens; each issue's tags are computed once per run of the reader."""

    engine: Engine
    secret: bytes
    bounce_to: str
    _issues: dict[str, str] | None = None  # issue tag -> issue id
    _tags: dict[str, dict[str, str]] = field(default_factory=dict)  # issue -> recipient tag -> email

    def by_token(self, token: verp.VerpToken) -> tuple[str, str] | None:
        if self._issues is None:
            with self.engine.connect() as connection:
                ids = connection.execute(select(t.runs.c.issue_id)).scalars().all()
            self._issues = {verp.issue_tag(self.secret, issue): issue for issue in ids}
        issue = self._issues.get(token.issue_tag)
        if issue is None:
            return None
        if issue not in self._tags:
            with self.engine.connect() as connection:
                emails = connection.execute(
                    select(t.recipients.c.email).where(t.recipients.c.issue_id == issue)
                ).scalars()
                self._tags[issue] = {verp.recipient_tag(self.secret, issue, e): e for e in emails}
        email = self._tags[issue].get(token.recipient_tag)
        if email is None or not verp.matches(token, self.secret, issue, email):
            return None
        return issue, email

    def by_message_id(self, message_id: str) -> tuple[str, str] | None:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(t.recipients.c.issue_id, t.recipients.c.email).where(
                    t.recipients.c.message_id == message_id
                )
            ).all()
        return (rows[0].issue_id, rows[0].email) if len(rows) == 1 else None

    def by_provider_id(self, provider_id: str) -> tuple[str, str] | None:
        """The recipient of the message the provider knows by this id (SES's MessageId)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(t.recipients.c.issue_id, t.recipients.c.email).where(
                    t.recipients.c.provider_id == provider_id
                )
            ).all()
        return (rows[0].issue_id, rows[0].email) if len(rows) == 1 else None


def match_notice(notice: Notice, recipients: Recipients) -> tuple[list[Match], str]:
    """The recipients a notice's failures provably concern, and why it is unverified ("" if it is not)."""
    failures = [f for f in notice.failures if f.kind in _DECIDED]
    if not failures:
        return [], ""
    tokens = verp.find_in(notice.text, recipients.bounce_to)
    if len(tokens) == 1:
        found = recipients.by_token(tokens[0])
        if not found:  # forged, damaged, or about a run no longer kept: no fallback guesses past it
            return [], "unverified: its VERP token matches no recipient of a sent issue"
        # One message, one recipient: the worst failure reported stands for it.
        worst = min(failures, key=lambda f: _DECIDED.index(f.kind) if f.kind != Kind.COMPLAINT else -1)
        return [Match(worst, found[0], found[1], "verp")], ""
    for message_id in notice.original_ids:
        found = recipients.by_message_id(message_id)
        if found:
            return [Match(failures[0], found[0], found[1], "message-id")], ""
    named = ", ".join(dict.fromkeys(f.email or "a redacted recipient" for f in failures))
    return [], f"unverified: no VERP token or Message-ID of ours proves it concerns {named}"

"""`bounces fetch`: read the bounce mailbox over IMAP with TLS, decide on each report, move what was done.

A message moves to the processed folder only after its decisions are committed. A report that
proves nothing (no VERP token or Message-ID of ours: anyone can write one) moves to the
`Unverified` folder, and one that cannot be read at all (hostile structure, random bytes) to
`Quarantine`: both are kept and listed, neither changes anybody's state, and neither is read again,
so no message can hold up the ones behind it. What is not a report (a reader's reply) stays where
it is and is listed. A crash at any step loses nothing: the next run reads the message again and
the notification id makes it count once. One run at a time (a lock beside the database, or an
advisory lock on PostgreSQL), so cron is safe.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import Engine

from newsletter.bounces.classify import Kind
from newsletter.bounces.decide import Decision, Limits, decide
from newsletter.bounces.mapping import Recipients, match_notice
from newsletter.bounces.notice import MAX_BYTES, Notice, read_notice
from newsletter.bounces.settings import BounceSettings, ImapSettings
from newsletter.bounces.unverified import record_unverified
from newsletter.db.locks import bounce_fetcher_lock
from newsletter.errors import NewsletterError

SOURCE = "bounce mailbox"
_BODY = f"BODY.PEEK[]<0.{MAX_BYTES}>"  # PEEK: reading does not mark it \Seen; <0.n>: at most n bytes
_DONE = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT, Kind.WARNING, Kind.AUTO_REPLY)
UNVERIFIED_FOLDER = "Unverified"
QUARANTINE_FOLDER = "Quarantine"


class MailboxError(NewsletterError):
    """The bounce mailbox cannot be read: unreachable, a refused login, a missing folder."""


@dataclass(frozen=True)
class Left:
    """A message left in the mailbox for a person, and why."""

    uid: int
    sender: str
    subject: str
    why: str


@dataclass(frozen=True)
class FetchReport:
    read: int
    decisions: tuple[Decision, ...]
    ignored: int  # auto-replies and delay warnings: moved, nothing decided
    moved: int
    left: tuple[Left, ...]
    remaining: int  # messages not read this time (over --limit)
    unverified: tuple[Left, ...] = ()  # reports that prove nothing: moved to UNVERIFIED_FOLDER
    quarantined: tuple[Left, ...] = ()  # messages that cannot be read: moved to QUARANTINE_FOLDER


def fetch_bounces(
    engine: Engine,
    settings: BounceSettings,
    secret: bytes,
    password: str,
    workspace: Path,
    limit: int = 500,
    connect: Callable[[ImapSettings, str, Path], IMAPClient] | None = None,
) -> FetchReport:
    """Read up to `limit` messages of the bounce mailbox, decide on each, move those done."""
    imap = settings.imap
    if imap is None:
        raise MailboxError("newsletter.yaml: bounces.imap is not set; give host, port, username and folder")
    lock = bounce_fetcher_lock(engine)
    with lock, _session(imap, password, workspace, connect or open_mailbox) as client:
        return _process(client, imap, engine, settings, secret, limit)


def open_mailbox(imap: ImapSettings, password: str, workspace: Path) -> IMAPClient:
    """A logged-in connection over TLS (IMAPS, or STARTTLS before the login); MailboxError says why not."""
    where = f"{imap.host}:{imap.port}"
    try:
        context = ssl.create_default_context(cafile=str(workspace / imap.ca_file) if imap.ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise MailboxError(f"newsletter.yaml: bounces.imap.ca_file: cannot load it ({error})") from None
    try:
        client = IMAPClient(
            imap.host, imap.port, ssl=imap.security == "ssl", ssl_context=context, timeout=imap.timeout
        )
        if imap.security == "starttls":
            client.starttls(context)
    except ssl.SSLError as error:
        raise MailboxError(
            f"bounce mailbox {where}: the TLS handshake failed ({error.reason or error}); check the server's "
            "certificate (bounces.imap.ca_file for a private CA) and bounces.imap.security"
        ) from None
    except (OSError, IMAPClientError) as error:
        reason = (
            "timed out"
            if isinstance(error, socket.timeout | TimeoutError)
            else str(error) or type(error).__name__
        )
        raise MailboxError(
            f"bounce mailbox {where} is unreachable ({reason}); check bounces.imap.host and port, "
            "and that the server is up. Nothing was read or changed"
        ) from None
    try:
        client.login(imap.username, password)
    except LoginError:
        client.shutdown()
        raise MailboxError(
            f"bounce mailbox {where} refused the login of {imap.username!r}; check bounces.imap.username "
            "and NEWSLETTER_BOUNCE_PASSWORD. Nothing was read or changed"
        ) from None
    return client


@contextmanager
def _session(
    imap: ImapSettings,
    password: str,
    workspace: Path,
    connect: Callable[[ImapSettings, str, Path], IMAPClient],
) -> Iterator[IMAPClient]:
    client = connect(imap, password, workspace)
    try:
        yield client
    except (OSError, IMAPClientError) as error:
        raise MailboxError(
            f"bounce mailbox {imap.host}:{imap.port}: the connection failed part way ({error}); what was "
            "moved is done, the rest stays in the mailbox: run the command again"
        ) from None
    finally:
        with suppress(OSError, IMAPClientError):  # the server hung up first: nothing left to close
            client.logout()


def _process(
    client: IMAPClient,
    imap: ImapSettings,
    engine: Engine,
    settings: BounceSettings,
    secret: bytes,
    limit: int,
) -> FetchReport:
    try:
        client.select_folder(imap.folder)
    except IMAPClientError:
        raise MailboxError(f"bounce mailbox: no folder {imap.folder!r}; check bounces.imap.folder") from None
    for folder in (imap.processed_folder, UNVERIFIED_FOLDER, QUARANTINE_FOLDER):
        if not client.folder_exists(folder):
            client.create_folder(folder)
    uids = sorted(client.search(["UNDELETED"]))
    recipients = Recipients(engine, secret, settings.address)
    limits = Limits(settings.soft_limit, settings.soft_window_issues)
    decisions: list[Decision] = []
    left: list[Left] = []
    unverified: list[Left] = []
    quarantined: list[Left] = []
    ignored = moved = 0
    for uid in uids[:limit]:
        fetched = client.fetch([uid], [_BODY]).get(uid)
        if not fetched:
            continue  # removed by someone else meanwhile
        data = next((v for k, v in fetched.items() if k.startswith(b"BODY[")), b"")
        notice = read_notice(data if isinstance(data, bytes) else b"")
        if notice.unreadable:
            quarantined.append(Left(uid, notice.sender, _subject(notice), notice.unreadable))
            _move(client, uid, QUARANTINE_FOLDER)
            continue
        matches, why = match_notice(notice, recipients)
        decisions += [decide(engine, m, notice.notification_id, SOURCE, limits) for m in matches]
        if why:
            named = next((f.email for f in notice.failures if f.email), "")
            record_unverified(engine, notice.notification_id, named, SOURCE, why)
            unverified.append(Left(uid, notice.sender, _subject(notice), why))
            _move(client, uid, UNVERIFIED_FOLDER)
            continue
        if notice.kind not in _DONE:
            left.append(Left(uid, notice.sender, _subject(notice), notice.why))
            continue
        ignored += notice.kind in (Kind.WARNING, Kind.AUTO_REPLY)
        _move(client, uid, imap.processed_folder)
        moved += 1
    return FetchReport(
        len(uids[:limit]), tuple(decisions), ignored, moved, tuple(left), max(0, len(uids) - limit),
        tuple(unverified), tuple(quarantined),
    )  # fmt: skip


def _move(client: IMAPClient, uid: int, folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move([uid], folder)
        return
    client.copy([uid], folder)  # without MOVE: copy, then delete; a crash between leaves a copy, not a loss
    client.delete_messages([uid])
    client.expunge([uid] if client.has_capability("UIDPLUS") else None)


def _subject(notice: Notice) -> str:
    try:
        return str(make_header(decode_header(notice.subject)))
    except (ValueError, LookupError):
        return notice.subject

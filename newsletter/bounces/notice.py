"""One message from the bounce mailbox -> what it reports: failures with their evidence, or nothing.

Delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965) are read field by
field with the standard library's parser; other servers' bounce formats go to GNU Mailman's
`flufl.bounce` detectors. Auto-replies (RFC 3834 Auto-Submitted, vacation notices) are told apart
so they never count as bounces. Only the first `MAX_BYTES` of a message are read: the reports
come first and a returned 20 MB attachment follows them.

Anyone can mail the bounce address, so parsing is bounded before it starts: a message with more
than `MAX_CONTAINERS` multipart or message parts (the standard library's parser recurses once per
level: 5,000 nested parts end in RecursionError) or `MAX_PARTS` parts is unreadable, never parsed.
An unreadable message is a Notice saying why, for the mailbox to set aside; nothing here raises.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from newsletter.bounces.classify import Kind, action_kind, best_status, status_in

MAX_BYTES = 2 * 1024 * 1024
MAX_CONTAINERS = 50  # multipart and message/* parts; a report has three or four
MAX_PARTS = 1000  # boundary lines
_CONTAINER = re.compile(rb"^content-type:[ \t]*(?:multipart|message)/", re.IGNORECASE | re.MULTILINE)
_BOUNDARY_LINE = re.compile(rb"^--[^\r\n]{1,200}$", re.MULTILINE)
# flufl.bounce logs each detector that trips over a damaged message with its traceback; that is
# its own business (the failure is handled below), never a line on the operator's terminal.
logging.getLogger("flufl.bounce").propagate = False
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress")
_AUTO_PRECEDENCE = ("auto_reply",)
_AUTO_SUBJECTS = ("automatic reply:", "auto-reply:", "autoreply:", "out of office", "abwesenheitsnotiz")
_MAIL_SYSTEMS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_COMPLAINTS = ("abuse", "fraud", "virus", "other")  # Feedback-Type values a person's complaint gives
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")


@dataclass(frozen=True)
class Failure:
    """One recipient a notification reports on."""

    email: str  # as the report gives it ("" when redacted, as many feedback loops do)
    kind: Kind
    status: str  # enhanced status code, or the feedback type for a complaint
    diagnostic: str  # the remote server's words, or the feedback loop's name


@dataclass(frozen=True)
class Notice:
    notification_id: str  # its Message-ID, else a digest of its bytes: the same notice counts once
    format: str  # dsn, arf, auto-reply, heuristic, none
    kind: Kind  # the notice as a whole: the kind of its first failure, or warning/auto-reply/unrecognised
    failures: tuple[Failure, ...]
    text: str  # every header and text part read, for the VERP tokens and quoted Message-IDs
    original_ids: tuple[str, ...]  # Message-IDs of our message quoted in the report
    subject: str
    sender: str
    why: str = ""  # for an unrecognised notice: what was missing
    unreadable: str = ""  # why the message could not be read at all (set aside, never retried)


def read_notice(data: bytes) -> Notice:
    """What a notification reports; never raises (a malformed message is unrecognised or unreadable)."""
    head = data[:MAX_BYTES]
    too_deep = _beyond_bounds(head)
    if too_deep:
        return _unreadable(data, too_deep)
    try:
        return _read(head, data)
    except (RecursionError, MemoryError):  # bounded above; this is the last line of defence
        return _unreadable(data, "its structure is too deeply nested to read")
    except Exception as error:  # the parser or a detector tripping over hostile bytes
        return _unreadable(data, f"the parser failed on it ({type(error).__name__})")


def _beyond_bounds(head: bytes) -> str:
    containers = len(_CONTAINER.findall(head))
    if containers > MAX_CONTAINERS:
        return f"it has {containers} nested or multipart parts (a report has a few; at most {MAX_CONTAINERS})"
    if len(_BOUNDARY_LINE.findall(head)) > MAX_PARTS:
        return f"it has more than {MAX_PARTS} parts"
    return ""


def _unreadable(data: bytes, why: str) -> Notice:
    head = HeaderParser().parsestr(data[:65536].decode("latin-1").split("\r\n\r\n")[0].split("\n\n")[0])
    return Notice(
        notification_id="sha256:" + hashlib.sha256(data).hexdigest()[:32],
        format="none",
        kind=Kind.UNRECOGNISED,
        failures=(),
        text="",
        original_ids=(),
        subject=" ".join(str(head.get("subject", "")).split())[:200],
        sender=parseaddr(str(head.get("from", "")))[1],
        why=why,
        unreadable=why,
    )


def _read(head: bytes, data: bytes) -> Notice:
    msg = message_from_bytes(head)
    if msg.get("from") is None:  # every mail system's report has one; random bytes do not
        return _unreadable(data, "it has no From header: it is not an email")
    notification_id = _notification_id(msg, data)
    text = head.decode("latin-1")
    subject = " ".join(str(msg.get("subject", "")).split())[:200]
    sender = parseaddr(str(msg.get("from", "")))[1]
    base = {"notification_id": notification_id, "text": text, "subject": subject, "sender": sender}
    report_type = msg.get_param("report-type", "", header="content-type")
    report = str(report_type).lower() if isinstance(report_type, str) else ""
    if msg.get_content_type() == "multipart/report" and report == "delivery-status":
        failures = _dsn_failures(msg)
        return _notice(base, "dsn", failures, _original_ids(msg), "no recipient block with Action and Status")
    if msg.get_content_type() == "multipart/report" and report == "feedback-report":
        failures = _arf_failures(msg)
        return _notice(base, "arf", failures, _original_ids(msg), "no Feedback-Type a complaint gives")
    if is_auto_reply(msg) and not _from_mail_system(msg):
        return Notice(kind=Kind.AUTO_REPLY, format="auto-reply", failures=(), original_ids=(), **base)
    failures = _heuristic_failures(msg, text)
    return _notice(
        base, "heuristic" if failures else "none", failures, _original_ids(msg), "not a bounce report"
    )


def _notice(base: dict, fmt: str, failures: list[Failure], ids: tuple[str, ...], why: str) -> Notice:
    decided = [f for f in failures if f.kind in (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)]
    if decided:
        kind = decided[0].kind
    elif failures and all(f.kind == Kind.WARNING for f in failures):
        kind = Kind.WARNING
    else:
        kind = Kind.UNRECOGNISED
    return Notice(
        kind=kind,
        format=fmt,
        failures=tuple(failures),
        original_ids=ids,
        why=why if kind == Kind.UNRECOGNISED else "",
        **base,
    )


def _notification_id(msg: Message, data: bytes) -> str:
    given = _MESSAGE_ID.search(str(msg.get("message-id", "")))
    if given:
        return given.group(0)
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32]


def is_auto_reply(msg: Message) -> bool:
    """RFC 3834's Auto-Submitted (anything but `no`), the responders' own headers, or a vacation subject."""
    auto = str(msg.get("auto-submitted", "no")).strip().lower()
    if not auto.startswith("no"):
        return True
    if any(msg.get(name) is not None for name in _AUTO_HEADERS):
        return True
    if str(msg.get("precedence", "")).strip().lower() in _AUTO_PRECEDENCE:
        return True
    subject = " ".join(str(msg.get("subject", "")).split()).lower()
    return subject.startswith(_AUTO_SUBJECTS)


def _from_mail_system(msg: Message) -> bool:
    """A mail server's own report (they are auto-submitted too): its sender, or Exim's failure header."""
    local = parseaddr(str(msg.get("from", "")))[1].partition("@")[0].lower()
    return local in _MAIL_SYSTEMS or msg.get("x-failed-recipients") is not None


def field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part.

    The email package parses the first into blocks and the second into one message; a part with
    a transfer encoding or a damaged layout arrives as text, parsed here block by block.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    parser = HeaderParser()
    return [
        parser.parsestr(block.strip() + "\n") for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()
    ]


def _address(value: str) -> str:
    """The address in a recipient field (`rfc822; a@b`, `<a@b>`), or ""."""
    _, _, rest = value.rpartition(";")
    address = parseaddr(rest.strip())[1]
    return address if "@" in address else ""


def _one_line(value: object, limit: int = 500) -> str:
    return " ".join(str(value).split())[:limit]


def _dsn_failures(msg: Message) -> list[Failure]:
    failures = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in field_blocks(part)[1:]:  # the first block is about the message, not a recipient
            recipient = _address(str(block.get("original-recipient", ""))) or _address(
                str(block.get("final-recipient", ""))
            )
            diagnostic = _one_line(block.get("diagnostic-code", ""))
            status = best_status(str(block.get("status", "")), diagnostic)
            kind = action_kind(str(block.get("action", "")), status)
            if recipient and kind != Kind.UNRECOGNISED:
                failures.append(Failure(recipient, kind, status or "", diagnostic))
    return failures


def _arf_failures(msg: Message) -> list[Failure]:
    failures = []
    for part in msg.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        for block in field_blocks(part)[:1]:
            feedback = _one_line(block.get("feedback-type", "")).lower()
            if feedback not in _COMPLAINTS:
                continue
            recipients = [a for _, a in getaddresses([str(v) for v in block.get_all("original-rcpt-to", [])])]
            agent = _one_line(block.get("user-agent", "a feedback loop"), 200)
            for email in recipients or [""]:
                failures.append(Failure(email, Kind.COMPLAINT, feedback, agent))
    return failures


def _heuristic_failures(msg: Message, text: str) -> list[Failure]:
    """Other servers' formats, by flufl.bounce; the code comes from the text when it gives one."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector that trips over a damaged message must not stop the run
        return []
    failures = []
    for found, default in ((permanent, "5.0.0"), (temporary, "4.0.0")):
        for raw in sorted(found):
            email = raw.decode("ascii", "replace")
            line = _line_about(text, email)
            status = status_in(line) or default
            if status[0] != default[0]:
                status = default
            failures.append(Failure(email, action_kind("failed", status), status, line))
    return failures


def _line_about(text: str, email: str) -> str:
    """The report's line giving the reason for this address (the one with a status code or a reply)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for n, line in enumerate(lines):
        if email.lower() in line.lower():
            for candidate in lines[n : n + 5]:
                if status_in(candidate) or re.search(r"\b[45]\d\d\b", candidate):
                    return candidate[:500]
    return ""


def _original_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of the original quoted in the report (text/rfc822-headers or message/rfc822)."""
    found: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        headers: list[Message] = []
        if kind == "message/rfc822":
            headers = [p for p in part.get_payload() if isinstance(p, Message)]
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = [HeaderParser().parsestr(raw.decode("utf-8", "replace"))]
        for quoted in headers:
            found += _MESSAGE_ID.findall(str(quoted.get("message-id", "")))
    for name in ("in-reply-to", "references", "x-original-message-id"):
        found += _MESSAGE_ID.findall(str(msg.get(name, "")))
    return tuple(dict.fromkeys(found))

"""The `bounces:` settings in newsletter.yaml: the bounce address, its mailbox, SNS, and the limits.

Read from the raw settings mapping (store.config knows nothing of them yet); every problem is
reported at once with its line. The mailbox password comes from NEWSLETTER_BOUNCE_PASSWORD only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError, problems
from newsletter.store import validate as v
from newsletter.store.config import SETTINGS_FILE
from newsletter.store.fileio import YamlDocument, load_yaml

PASSWORD_ENV = "NEWSLETTER_BOUNCE_PASSWORD"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d\Z")
# A VERP address is local+token@domain: the local part must leave room for the token (RFC 5321: 64).
MAX_LOCAL = 36


@dataclass(frozen=True)
class ImapSettings:
    host: str
    username: str
    port: int = 993
    security: str = "ssl"  # ssl (IMAPS) | starttls: IMAP over TLS either way, never in the clear
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    ca_file: str | None = None  # a private CA's certificate (PEM), relative to the workspace
    timeout: float = 30.0


@dataclass(frozen=True)
class SnsSettings:
    region: str  # certificates and subscription URLs only from sns.<region>.amazonaws.com
    topic_arns: tuple[str, ...] = ()  # when given, messages from other topics are refused
    # Tests only: also accept certificate and subscription URLs on 127.0.0.1 / localhost.
    allow_loopback_for_tests: bool = False


@dataclass(frozen=True)
class BounceSettings:
    address: str  # bounces@example.org: each message's envelope sender is bounces+TOKEN@example.org
    imap: ImapSettings | None = None
    sns: SnsSettings | None = None
    soft_limit: int = 3  # suppress after this many soft bounces ...
    soft_window_issues: int = 5  # ... in different issues among the last this many
    pause_rate: float = 0.05  # a run pauses itself when its hard-bounce rate passes this ...
    pause_min_attempts: int = 200  # ... after at least this many attempts

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def imap_password(environ: dict[str, str] | None = None) -> str:
    """The bounce mailbox's password, from the environment only."""
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV, "")
    if not value:
        raise ConfigError(f"{PASSWORD_ENV} is not set: it is the bounce mailbox's password (never in a file)")
    return value


def load_bounce_settings(workspace: Path) -> BounceSettings | None:
    """The `bounces:` section of the workspace's newsletter.yaml, or None when there is none."""
    doc = load_yaml(workspace / SETTINGS_FILE, display=SETTINGS_FILE)
    return parse_bounce_settings(doc)


def parse_bounce_settings(doc: YamlDocument) -> BounceSettings | None:
    data = doc.data.get("bounces") if isinstance(doc.data, dict) else None
    if data is None:
        return None
    p = v.Problems(doc)
    if not isinstance(data, dict):
        raise ConfigError(problems(SETTINGS_FILE, [f"{doc.where('bounces')}: bounces: expected a mapping"]))
    known = {"address", "imap", "sns", "soft_limit", "soft_window_issues", "pause_rate", "pause_min_attempts"}
    v.unknown_keys(p, data, known, ("bounces",))
    address = data.get("address")
    if not v.email_address(address) or "+" in str(address):
        p.add(("bounces", "address"), "expected an address without '+', such as bounces@example.org")
        address = "bounces@invalid"
    elif len(address.partition("@")[0]) > MAX_LOCAL:
        p.add(("bounces", "address"), f"the part before @ must be at most {MAX_LOCAL} characters")
    defaults = BounceSettings("")
    soft_limit = _whole(p, data, "soft_limit", defaults.soft_limit, 1)
    window = _whole(p, data, "soft_window_issues", defaults.soft_window_issues, 1)
    if window < soft_limit:
        p.add(("bounces", "soft_window_issues"), "must be at least soft_limit (N bounces in M issues)")
    pause_rate = data.get("pause_rate", defaults.pause_rate)
    if isinstance(pause_rate, bool) or not isinstance(pause_rate, int | float) or not 0 < pause_rate < 1:
        p.add(("bounces", "pause_rate"), "expected a fraction between 0 and 1, such as 0.05")
        pause_rate = defaults.pause_rate
    settings = BounceSettings(
        address=str(address),
        imap=_imap(p, data.get("imap")),
        sns=_sns(p, data.get("sns")),
        soft_limit=soft_limit,
        soft_window_issues=window,
        pause_rate=float(pause_rate),
        pause_min_attempts=_whole(p, data, "pause_min_attempts", defaults.pause_min_attempts, 1),
    )
    if p:
        raise ConfigError(problems(SETTINGS_FILE, p.items))
    return settings


def _whole(
    p: v.Problems, data: dict[str, Any], key: str, default: int, least: int, where: str = "bounces"
) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        p.add((where, key), f"expected a whole number, {least} or more")
        return default
    return value


def _imap(p: v.Problems, data: object) -> ImapSettings | None:
    if data is None:
        return None
    keys = ("bounces", "imap")
    if not isinstance(data, dict):
        p.add(keys, "expected a mapping with host, port, username, folder, processed_folder")
        return None
    known = {
        "host",
        "port",
        "security",
        "username",
        "password",
        "folder",
        "processed_folder",
        "ca_file",
        "timeout",
    }
    v.unknown_keys(p, data, known, keys)
    if "password" in data:
        p.add(keys + ("password",), f"secrets never go in files: set {PASSWORD_ENV} instead")
    for key in ("host", "username"):
        if not v.text(data.get(key)):
            p.add(keys + (key,), "required: a non-empty string")
    security = data.get("security", "ssl")
    if security not in ("ssl", "starttls"):
        p.add(keys + ("security",), "expected ssl or starttls (the mailbox is read over TLS only)")
    port = data.get("port", 993 if security == "ssl" else 143)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        p.add(keys + ("port",), "expected a port number between 1 and 65535")
        port = 993
    folders = {}
    for key, default in (("folder", "INBOX"), ("processed_folder", "Processed")):
        folders[key] = data.get(key, default)
        if not v.text(folders[key]) or not v.single_line(folders[key]) or '"' in folders[key]:
            p.add(keys + (key,), "expected a folder name on one line, without quotes")
    if folders["folder"] == folders["processed_folder"]:
        p.add(keys + ("processed_folder",), "must differ from folder, or every message would be read again")
    timeout = data.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        p.add(keys + ("timeout",), "expected seconds above 0 and at most 600")
        timeout = 30.0
    ca_file = data.get("ca_file")
    if ca_file is not None and not v.text(ca_file):
        p.add(keys + ("ca_file",), "expected the path of a PEM certificate")
    return ImapSettings(
        host=str(data.get("host", "")),
        username=str(data.get("username", "")),
        port=port,
        security=str(security),
        folder=str(folders["folder"]),
        processed_folder=str(folders["processed_folder"]),
        ca_file=ca_file,
        timeout=float(timeout),
    )


def _sns(p: v.Problems, data: object) -> SnsSettings | None:
    if data is None:
        return None
    keys = ("bounces", "sns")
    if not isinstance(data, dict):
        p.add(keys, "expected a mapping with region (and topic_arns)")
        return None
    v.unknown_keys(p, data, {"region", "topic_arns", "allow_loopback_for_tests"}, keys)
    region = data.get("region")
    if not isinstance(region, str) or not _REGION.match(region):
        p.add(keys + ("region",), "expected an AWS region such as eu-west-1")
        region = ""
    arns = data.get("topic_arns", [])
    if not isinstance(arns, list) or not all(isinstance(a, str) and a.startswith("arn:aws") for a in arns):
        p.add(keys + ("topic_arns",), "expected a list of topic ARNs (arn:aws:sns:REGION:ACCOUNT:NAME)")
        arns = []
    loopback = data.get("allow_loopback_for_tests", False)
    if not isinstance(loopback, bool):
        p.add(keys + ("allow_loopback_for_tests",), "expected true or false (true only in tests)")
        loopback = False
    return SnsSettings(region=str(region), topic_arns=tuple(arns), allow_loopback_for_tests=loopback)

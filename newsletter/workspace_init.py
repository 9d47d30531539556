"""Start a newsletter of one's own: a new workspace (`newsletter init DIR`) from a few answers.

The workspace gets commented settings, a starter taxonomy for MS research, the empty folders the
tool reads, and a .gitignore for what must never go into git (the state database: readers'
personal data). It holds no sample content and no sample readers; nothing is written unless every
answer is valid, and never into a folder that already holds something.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from newsletter.errors import ConfigError, problems
from newsletter.store import validate as v
from newsletter.store.config import load_settings

FOLDERS = ("summaries", "issues", "subscribers", "templates")
GITIGNORE = """\
# Written by `newsletter init`. The state database holds readers' personal data: never in git.
/.newsletter/
*.sqlite3
*.sqlite3-wal
*.sqlite3-shm
# Built files: made again by `newsletter build`, `send` (outbox) and `archive`.
/out/
/outbox/
/archive/
"""


@dataclass(frozen=True)
class Answers:
    """What `init` asks; the defaults are what `--yes` takes."""

    name: str = "MS Research Roundup"
    site_url: str = "https://msresearch.example.org"
    sender_name: str = ""  # default: the newsletter's name
    sender_email: str = ""  # default: newsletter@ the site's domain
    postal_address: str = "Your organisation, street and number, postcode and city, country"
    timezone: str = "UTC"
    list_id: str = ""  # default: newsletter.<the site's domain>

    def completed(self) -> Answers:
        """The answers with the defaults that follow from others filled in."""
        domain = domain_of(self.site_url) or "example.org"
        return Answers(
            name=self.name.strip(),
            site_url=self.site_url.strip().rstrip("/"),
            sender_name=(self.sender_name or self.name).strip(),
            sender_email=(self.sender_email or f"newsletter@{domain}").strip(),
            postal_address=self.postal_address.strip(),
            timezone=self.timezone.strip(),
            list_id=(self.list_id or f"newsletter.{domain}").strip(),
        )


QUESTIONS = {
    "name": "The newsletter's name",
    "site_url": "The site's https URL",
    "sender_name": "The sender's name",
    "sender_email": "The sender's address",
    "postal_address": "The postal address for the footer",
    "timezone": "The time zone (IANA, e.g. Europe/London)",
    "list_id": "The list's name, as a domain (List-Id)",
}


def local_timezone() -> str:
    """This machine's IANA time zone when it says so (TZ, /etc/timezone), else UTC."""
    for candidate in (os.environ.get("TZ", ""), _read("/etc/timezone")):
        name = candidate.strip().removeprefix(":")
        if name and _is_zone(name):
            return name
    return "UTC"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _is_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def domain_of(url: str) -> str | None:
    return urlsplit(url.strip()).hostname if v.https_url(url.strip()) else None


def answer_problems(answers: Answers) -> list[str]:
    """Every answer that cannot go into newsletter.yaml, each with its option and the fix."""
    wrong = []
    for item in fields(answers):
        value = getattr(answers, item.name)
        flag = "--" + item.name.replace("_", "-")
        if not value or not v.single_line(value) or any(ord(c) < 32 for c in value):
            wrong.append(f"{flag}: expected {QUESTIONS[item.name].lower()}, on one line")
    if not v.https_url(answers.site_url):
        wrong.append(f"--site-url: expected an absolute https URL, got {answers.site_url!r}")
    if not v.email_address(answers.sender_email):
        wrong.append(f"--sender-email: {answers.sender_email!r} is not an email address")
    if not _is_zone(answers.timezone):
        wrong.append(
            f"--timezone: unknown time zone {answers.timezone!r}; use an IANA name like Europe/London"
        )
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", answers.list_id):
        wrong.append(f"--list-id: expected a name like newsletter.example.org, got {answers.list_id!r}")
    return sorted(set(wrong), key=wrong.index)


def settings_text(answers: Answers) -> str:
    """newsletter.yaml, every key commented, the answers filled in as quoted YAML scalars."""
    template = Template(resources.files("newsletter").joinpath("data/newsletter.yaml").read_text("utf-8"))
    domain = domain_of(answers.site_url) or "example.org"
    quoted = {
        item.name: json.dumps(getattr(answers, item.name), ensure_ascii=False) for item in fields(answers)
    }
    return template.substitute(
        quoted,
        site_url=answers.site_url,  # inside other URLs too, so not quoted (it is a checked https URL)
        summary_url=f"{answers.site_url}/research/{{slug}}",
        domain=domain,
    )


def is_empty_folder(folder: Path) -> bool:
    return folder.is_dir() and not any(folder.iterdir())


def create_workspace(folder: Path, answers: Answers) -> Path:
    """Write a new workspace into `folder` (missing or empty); all of it, or on any error nothing."""
    answers = answers.completed()
    wrong = answer_problems(answers)
    if wrong:
        raise ConfigError(problems("nothing written", wrong))
    folder = folder.resolve()
    if folder.exists() and not is_empty_folder(folder):
        what = "a workspace" if (folder / "newsletter.yaml").exists() else "files"
        raise ConfigError(
            f"{folder}: already holds {what}; init writes only into a new or empty folder "
            "(choose another, e.g. `newsletter init ~/my-newsletter`)"
        )
    if not folder.parent.is_dir():
        raise ConfigError(f"{folder.parent}: no such folder; create it first, or choose another")
    # Made beside its place and moved in at once, so a failure leaves no half-made workspace.
    staging = folder.parent / f".{folder.name}.init-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)  # left by a killed init of the same process id
        staging.mkdir()  # with the user's umask, as the folder itself would be
        (staging / "newsletter.yaml").write_text(settings_text(answers), encoding="utf-8")
        topics = resources.files("newsletter").joinpath("data/topics.yaml").read_text("utf-8")
        (staging / "topics.yaml").write_text(topics, encoding="utf-8")
        (staging / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
        for name in FOLDERS:
            (staging / name).mkdir()
        load_settings(staging)  # what init writes must load: a failure here is the tool's bug
        if folder.exists():
            folder.rmdir()  # empty, checked above
        staging.rename(folder)
    except OSError as exc:
        raise ConfigError(
            f"{folder}: cannot write the workspace ({exc.strerror or exc}); nothing written"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def next_steps(folder: Path) -> list[str]:
    """What to do after init, as commands that work as copied."""
    here = Path.cwd()
    shown = os.path.relpath(folder, here) if folder.is_relative_to(here) else str(folder)
    return [
        f"Created the workspace {shown}/ (no summaries, issues or readers yet). Next:",
        f"  cd {shown}",
        "  $EDITOR newsletter.yaml                       # check the postal address, the provider, feed_url",
        "  newsletter import --feed feed.xml             # the site's feed, saved or its https URL",
        "  newsletter import pages/*                     # the month's pages, saved (.html or copied text)",
        "  newsletter subscribers import mailchimp.csv   # your list: Mailchimp, Buttondown, Substack...",
        "  newsletter new-issue                          # drafts issues/YYYY-MM.yaml",
        "The editor's guide: docs/editor-guide.md in the newsletter's repository.",
    ]

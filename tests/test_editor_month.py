"""An editor's month, scripted from `newsletter init` to the archive, as the README tells it.

A fresh workspace outside the repository: the site's pages and feed imported in both orders, a
Mailchimp export, a draft, edits by hand, build, check, a test send and the send to a real SMTP
server on loopback, status and the archive. No sample reader of the repository's workspace may
receive anything: the sample stays the sample.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from factories import invoke
from loopback_site import FEEDS
from sample_workspace import copy_sample_workspace

from newsletter.store import issues
from newsletter.store.content import load_summaries

PAGES = sorted((Path(__file__).parent / "pages").glob("*.txt"))
SECRET = {"NEWSLETTER_SECRET": "PVuucN9NjLqbCkzViQptbqzTfHiaJl1Rz7dwOYfAm_4"}
READERS = ["ana@readers.example.net", "bo@readers.example.net", "cy@readers.example.net"]
SEND_AT = "2026-06-02T09:00:00-04:00"


def newsletter(ws: Path, *args: str):
    """`newsletter ARGS` typed in the workspace's folder, as the README has the editor do."""
    with pytest.MonkeyPatch.context() as here:
        here.chdir(ws)
        result = invoke(list(args), env=SECRET)
    assert "Traceback" not in result.output, result.output
    return result


def init(folder: Path) -> Path:
    made = invoke([
        "init", str(folder), "--yes", "--name", "MS Research Monthly",
        "--site-url", "https://msresearch.example.org", "--sender-email", "news@msresearch.example.org",
        "--postal-address", "MS Research Monthly, 1 Main St, Town", "--timezone", "America/New_York",
    ])  # fmt: skip
    assert made.exit_code == 0, made.output
    return folder


def mailchimp_export(path: Path) -> Path:
    """The columns and values of a real Mailchimp audience export."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Email Address", "First Name", "Last Name", "TAGS", "OPTIN_TIME", "CONFIRM_TIME"])
        writer.writerow(
            [READERS[0], "Ana", "Reader", '"Microglia"', "2026-01-03 10:00:00", "2026-01-03 10:05:00"]
        )
        writer.writerow([READERS[1], "", "", "", "2026-02-11 08:00:00", "2026-02-11 08:01:00"])
        writer.writerow([READERS[2], "Cy", "", "", "2026-03-20 18:30:00", "2026-03-20 18:31:00"])
    return path


def sample_readers(folder: Path) -> set[str]:
    """The sample workspace's fictional readers (from a copy: tests never read the repository's own)."""
    sample = copy_sample_workspace(folder)
    with (sample / "subscribers" / "readers.csv").open(encoding="utf-8") as rows:
        return {row["email"] for row in csv.DictReader(rows)}


def finish_by_hand(ws: Path, issue_id: str) -> None:
    """What the editor does to the draft: subject, preheader, intro; drop what still needs review."""
    path = ws / "issues" / f"{issue_id}.yaml"
    draft = yaml.safe_load(path.read_text())
    store = load_summaries(ws)
    draft["subject"] = "Microglia in the lab, and how immune cells harm nerves"
    draft["preheader"] = "Five studies from May in plain language"
    draft["intro"] = "This month: microglia, the brain's own immune cells, in five new studies.\n"
    for section in draft["sections"]:
        section["items"] = [i for i in section["items"] if not store[i].needs_review]
    draft["sections"] = [s for s in draft["sections"] if s["items"]]
    path.write_text(yaml.safe_dump(draft, sort_keys=False, allow_unicode=True))


def test_an_editors_month_from_init_to_the_archive(tmp_path: Path, smtp_sink):
    ws = init(tmp_path / "my-newsletter")
    (ws / "feed.xml").write_bytes((FEEDS / "rss.xml").read_bytes())
    (ws / "pages").mkdir()
    for page in PAGES:
        shutil.copy(page, ws / "pages" / page.name)

    # Feed first, then pages here; the reverse in a second workspace: the same summaries.
    assert newsletter(ws, "import", "--feed", "feed.xml").exit_code == 0
    pages = newsletter(ws, "import", *[f"pages/{p.name}" for p in PAGES])
    other = init(tmp_path / "other")
    assert newsletter(other, "import", *[str(p) for p in PAGES]).exit_code == 0
    assert newsletter(other, "import", "--feed", str(FEEDS / "rss.xml")).exit_code == 0
    assert pages.exit_code == 0, pages.output
    assert load_summaries(ws) == load_summaries(other)
    full = [s for s in load_summaries(ws).values() if not s.is_teaser]
    assert len(full) == 5 and not any(s.needs_review for s in full)

    imported = newsletter(ws, "subscribers", "import", str(mailchimp_export(tmp_path / "mailchimp.csv")))
    assert imported.exit_code == 0, imported.output

    drafted = newsletter(ws, "new-issue", "--send-at", SEND_AT)
    assert drafted.exit_code == 0, drafted.output
    assert "Drafted issues/2026-06.yaml" in drafted.output
    issue = issues.load_issue(ws, "2026-06")
    assert {s.id for s in full} <= set(issue.summary_ids)  # every full summary of May, none missed

    unfinished = newsletter(ws, "check", "2026-06")
    assert unfinished.exit_code == 1  # the TODO intro and the suggested subject stop it
    finish_by_hand(ws, "2026-06")

    built = newsletter(ws, "build", "2026-06")
    checked = newsletter(ws, "check", "2026-06")
    assert built.exit_code == 0, built.output
    assert checked.exit_code == 0, checked.output

    provider = f"smtp://127.0.0.1:{smtp_sink.port}?starttls=no"
    editor = "editor@msresearch.example.org"
    proof = newsletter(ws, "send", "2026-06", "--provider", provider, "--test-to", editor)
    assert proof.exit_code == 0, proof.output
    unapproved = newsletter(ws, "send", "2026-06", "--provider", provider, "--yes")
    assert unapproved.exit_code == 1 and "nobody approved it" in unapproved.output  # init turns approval on
    approved = newsletter(ws, "approve", "2026-06", "--by", "Maya Chen")
    assert approved.exit_code == 0, approved.output
    sent = newsletter(ws, "send", "2026-06", "--provider", provider, "--yes")
    assert sent.exit_code == 0, sent.output

    received = [recipient for recipient, _ in smtp_sink.received]
    assert sorted(received) == sorted([editor, *READERS])
    assert not set(received) & sample_readers(tmp_path / "sample")  # the sample's readers get nothing

    status = newsletter(ws, "status", "2026-06")
    assert status.exit_code == 0 and "3 sent" in status.output, status.output
    archived = newsletter(ws, "archive", "--out", str(tmp_path / "site"))
    assert archived.exit_code == 0, archived.output
    assert (tmp_path / "site" / "2026-06" / "index.html").is_file()
    again = newsletter(ws, "new-issue", "--send-at", "2026-07-01T09:00:00-04:00")
    assert again.exit_code == 1  # nothing new since June's issue: said, not a repeat
    assert "import new ones first" in again.output or "try --since" in again.output

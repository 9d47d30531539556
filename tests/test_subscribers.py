"""Subscriber lists: validation, deduplication, suppression, preferences and the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.cli import cli
from newsletter.compose.reader import sections_for
from newsletter.errors import ContentError
from newsletter.store import subscribers
from newsletter.store.addresses import normalise_address, plain_address
from newsletter.store.audience import AudienceTally, iter_audience, load_audience
from newsletter.store.models import Issue, Section, Summary
from newsletter.store.subscriber_files import is_suppressed, suppressed_addresses
from newsletter.store.topics import load_taxonomy

HEADER = "email,name,topics,status,subscribed_at\n"


def write(workspace: Path, name: str, text: str, bom: bool = False) -> Path:
    path = workspace / "subscribers" / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_sample_list_loads(workspace):
    audience = load_audience(workspace)
    emails = [s.email for s in audience.recipients]
    assert "frank.former@example.org" not in emails  # unsubscribed and suppressed
    assert "chloe.lefevre@example.com" in emails
    assert audience.unsubscribed == 1
    assert audience.invalid == []


def test_bad_rows_are_reported_with_file_line_and_reason(empty_workspace):
    write(
        empty_workspace,
        "readers.csv",
        HEADER
        + "ok@example.com,Ok,,subscribed,2026-01-01\n"
        + "not-an-address,Bad,,subscribed,2026-01-01\n"
        + "who@example.com,Who,,maybe,2026-01-01\n"
        + "topic@example.com,Topic,Astrology,subscribed,2026-01-01\n"
        + 'evil@example.com,"Eve <eve@evil.example>, Bob",,subscribed,2026-01-01\n',
    )
    with pytest.raises(ContentError) as caught:
        load_audience(empty_workspace, ["readers"])
    message = caught.value.message
    assert "subscribers/readers.csv:3: 'not-an-address' is not a valid email address" in message
    assert "subscribers/readers.csv:4: unknown status 'maybe'" in message
    assert "subscribers/readers.csv:5: unknown topic 'Astrology'" in message
    assert "subscribers/readers.csv:6: the name" in message
    assert "--skip-invalid" in message

    audience = load_audience(empty_workspace, ["readers"], skip_invalid=True)
    assert [s.email for s in audience.recipients] == ["ok@example.com"]
    assert len(audience.invalid) == 4


def test_bom_mixed_case_duplicates_and_semicolon_topics(empty_workspace):
    write(
        empty_workspace,
        "readers.csv",
        "Email,Name,Topics,Status,Subscribed_At\n"
        "Ana@Example.COM,Ana,microglia; Gut and microbiome,subscribed,2026-01-01\n"
        "ana@example.com,Ana again,,subscribed,2026-01-02\n",
        bom=True,
    )
    write(empty_workspace, "clinicians.csv", HEADER + "ANA@example.com,Dr Ana,,subscribed,2026-01-03\n")
    audience = load_audience(empty_workspace, ["readers", "clinicians"])
    assert len(audience.recipients) == 1
    ana = audience.recipients[0]
    assert ana.email == "Ana@example.com"  # normalised: the domain lower-cased
    assert ana.topics == ("Microglia", "Gut and microbiome")  # spelled as in topics.yaml
    assert audience.duplicates == 2


def test_an_unsubscribed_row_anywhere_wins_over_a_subscribed_one(empty_workspace):
    write(empty_workspace, "a.csv", HEADER + "bo@example.com,Bo,,subscribed,\n")
    write(empty_workspace, "b.csv", HEADER + "BO@example.com,Bo,,unsubscribed,\n")
    audience = load_audience(empty_workspace)
    assert audience.recipients == []
    assert audience.unsubscribed == 1


def test_suppression_list_wins_over_every_list(empty_workspace):
    write(empty_workspace, "readers.csv", HEADER + "cy@example.com,Cy,,subscribed,\n")
    write(empty_workspace, "suppressed.csv", "email,reason,date\nCY@EXAMPLE.COM,complaint,2026-01-01\n")
    audience = load_audience(empty_workspace)
    assert audience.recipients == []
    assert audience.suppressed == 1
    assert is_suppressed(empty_workspace, "cy@example.com")


def test_unknown_list_names_the_lists_there_are(workspace):
    with pytest.raises(ContentError, match=r"no list named nope \(lists here: readers\)"):
        load_audience(workspace, ["nope"])


def test_unsubscribe_keeps_the_row_and_suppresses(workspace):
    changed = subscribers.unsubscribe(workspace, "Ana.Reader@example.com", "one-click unsubscribe")
    assert changed == ["readers"]
    text = (workspace / "subscribers" / "readers.csv").read_text()
    assert "ana.reader@example.com,Ana Reader,,unsubscribed,2025-11-03" in text
    assert is_suppressed(workspace, "ana.reader@example.com")
    suppressed = (workspace / "subscribers" / "suppressed.csv").read_text()
    assert suppressed.count("ana.reader@example.com") == 1
    subscribers.unsubscribe(workspace, "ana.reader@example.com", "again")  # idempotent
    suppressed = (workspace / "subscribers" / "suppressed.csv").read_text()
    assert suppressed.count("ana.reader@example.com") == 1


def test_mark_bounced(workspace):
    subscribers.mark_bounced(workspace, "dev.patel@example.org", "550 no such user")
    assert "dev.patel@example.org,Dev Patel,,bounced" in (workspace / "subscribers/readers.csv").read_text()
    assert suppressed_addresses(workspace)["dev.patel@example.org"] == "bounced: 550 no such user"


def _issue() -> Issue:
    return Issue(
        id="2026-06",
        title="t",
        subject="s",
        preheader="p",
        since=date(2026, 5, 1),
        until=date(2026, 5, 31),
        intro="i",
        sections=(
            Section("Gut and microbiome", ("gut",)),
            Section("Immune cells and inflammation", ("cells",)),
            Section("More research", ("other",)),
        ),
    )


def _summary(sid: str, topics: tuple[str, ...]) -> Summary:
    return Summary(sid, sid, f"https://x.example/{sid}", date(2026, 5, 2), "t", topics=topics)


def test_sections_follow_preferences_in_the_issue_order(workspace):
    taxonomy = load_taxonomy(workspace)
    summaries = {
        "gut": _summary("gut", ("Gut microbiome",)),
        "cells": _summary("cells", ("Microglia",)),
        "other": _summary("other", ("EAE",)),
    }
    issue = _issue()
    # A tag from the taxonomy picks its section; a title picks itself; order is the issue's.
    assert sections_for(("EAE", "microglia"), issue, summaries, taxonomy) == (
        "Immune cells and inflammation",
        "More research",
    )
    assert sections_for(("gut and microbiome",), issue, summaries, taxonomy) == ("Gut and microbiome",)
    # Nothing matches, or no preferences: the full issue.
    assert sections_for(("Pregnancy",), issue, summaries, taxonomy) is None
    assert sections_for((), issue, summaries, taxonomy) is None


def test_cli_import_reports_added_updated_invalid_duplicates(workspace, tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(
        b"\xef\xbb\xbfE-mail Address,Full Name,Tags\n"
        b"new.person@example.com,New Person,MRI\n"
        b"ANA.READER@example.com,Ana R.,\n"
        b"broken@,Nope,\n"
        b"New.Person@example.com,Again,\n"
    )
    result = CliRunner().invoke(cli, ["-w", str(workspace), "subscribers", "import", str(export)])
    assert result.exit_code == 0, result.output
    assert "readers: 1 added, 1 updated, 0 unchanged, 1 invalid, 1 duplicate rows" in result.output
    assert f"{export}:4: 'broken@' is not a valid email address" in result.output
    assert f"{export}:5: New.Person@example.com repeats line 2" in result.output
    text = (workspace / "subscribers" / "readers.csv").read_text()
    assert "new.person@example.com,New Person,MRI,subscribed," in text
    assert "ana.reader@example.com,Ana R.,,subscribed,2025-11-03" in text


def test_cli_add_list_remove(workspace):
    runner = CliRunner()
    ws = ["-w", str(workspace)]
    result = runner.invoke(
        cli, [*ws, "subscribers", "add", "Zoe@Example.org", "--name", "Zoë", "--topics", "MRI"]
    )
    assert result.output == "added Zoe@example.org in readers\n"
    result = runner.invoke(cli, [*ws, "subscribers", "list"])
    assert "readers      subscribed   Zoe@example.org (Zoë)  topics: MRI" in result.output
    result = runner.invoke(cli, [*ws, "subscribers", "remove", "zoe@example.org"])
    assert result.exit_code == 0, result.output
    assert "unsubscribed zoe@example.org in readers" in result.output
    result = runner.invoke(cli, [*ws, "subscribers", "add", "zoe@example.org"])
    assert result.exit_code == 1
    assert "is on subscribers/suppressed.csv (removed by the editor)" in result.output
    result = runner.invoke(cli, [*ws, "subscribers", "remove", "nobody@example.org"])
    assert result.exit_code == 1
    assert "nobody@example.org is not in any list; nothing changed" in result.output
    result = runner.invoke(cli, [*ws, "subscribers", "add", "x@example.org", "--name", "Bad\nName"])
    assert result.exit_code == 1 and "line break" in result.output


# -- reading at scale: the same verdicts, faster, one row at a time ---------------------------------

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
LOCAL_PARTS = st.one_of(
    st.text(alphabet=ATEXT + ".", min_size=0, max_size=12),
    st.text(alphabet=ATEXT + '. "@(é', min_size=0, max_size=12),
    st.sampled_from(["Postmaster", "INFO", "abuse", "www", "news.x", "x" * 64, "x" * 65, "y" * 200]),
)
LABELS = st.one_of(
    st.text(alphabet="abcXYZ019-", min_size=0, max_size=8),
    st.sampled_from(["xn--p1ai", "xn--", "ab--cd", "-a", "a-", "münchen", "a_b", "q" * 63, "q" * 64, ""]),
)
TLDS = st.sampled_from(["org", "COM", "test", "local", "localhost", "invalid", "onion", "arpa", "123", "io"])


@st.composite
def addresses(draw) -> str:
    labels = draw(st.lists(LABELS, min_size=0, max_size=4))
    domain = ".".join([*labels, draw(TLDS)])
    value = f"{draw(LOCAL_PARTS)}@{domain}"
    return draw(st.sampled_from(["", " "])) + value + draw(st.sampled_from(["", " ", "@x.org", ".", "\t"]))


def email_validator_verdict(value: str) -> tuple[str, str]:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return "invalid", f"{value.strip()!r} is not a valid email address: {exc}"
    return "valid", result.ascii_email or result.normalized


@settings(max_examples=600, deadline=None)
@given(addresses())
def test_the_quick_path_for_plain_addresses_gives_email_validators_own_verdict(value):
    try:
        ours = ("valid", normalise_address(value))
    except ValueError as exc:
        ours = ("invalid", str(exc))
    assert ours == email_validator_verdict(value)


def test_plain_addresses_take_the_quick_path():
    assert plain_address("Ana.Reader@Example.COM") == "Ana.Reader@example.com"
    assert plain_address("Postmaster@example.org") == "postmaster@example.org"
    assert plain_address('"quoted"@example.org') is None  # left to email-validator


def test_a_row_that_is_not_utf8_is_reported_with_its_line(empty_workspace):
    path = write(empty_workspace, "readers.csv", HEADER + "ok@example.com,Ok,,subscribed,\n")
    with path.open("ab") as f:
        f.write(b"ok2@example.com,Ok,,subscribed,\nzo\xe9@example.com,Zo\xe9,,subscribed,\n")

    with pytest.raises(ContentError) as caught:
        load_audience(empty_workspace)

    assert caught.value.message.startswith("subscribers/readers.csv:4: not UTF-8 text (invalid continuation")


def test_the_audience_streams_with_its_counts_and_lists_at_most_20_invalid_rows(empty_workspace):
    rows = [f"r{n}@example.com,R,,subscribed,\n" for n in range(5)]
    rows += [f"bad{n},Bad,,subscribed,\n" for n in range(22)]
    rows += ["R1@EXAMPLE.com,Again,,subscribed,\n", "r2@example.com,Gone,,unsubscribed,\n"]
    write(empty_workspace, "readers.csv", HEADER + "".join(rows))
    tally = AudienceTally()

    stream = iter_audience(empty_workspace, ["readers"], tally, skip_invalid=True)
    first = next(stream)
    rest = list(stream)

    assert [s.email for s in [first, *rest]] == ["r0@example.com", "r1@example.com", "r3@example.com",
                                                 "r4@example.com"]  # fmt: skip
    assert (tally.recipients, tally.unsubscribed, tally.duplicates, tally.invalid) == (4, 1, 2, 22)
    assert len(tally.invalid_rows) == 20
    message = tally.invalid_error().message
    assert message.splitlines()[0] == (
        "subscribers/ has 22 invalid rows (fix them, or send with --skip-invalid to leave them out):"
        " 21 problems:"
    )
    assert message.splitlines()[-1] == "  - ... and 2 more"
    with pytest.raises(ContentError, match="has 22 invalid rows"):
        list(iter_audience(empty_workspace, ["readers"]))

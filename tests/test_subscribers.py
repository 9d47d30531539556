"""Subscribers in the state database: the sample list moved in, CSV import and export, opt-outs,
suppression, erasure, preferences and the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from delivery_helpers import state
from factories import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.compose.reader import Variant, edition_for
from newsletter.db.audience import AudienceTally, iter_audience, iter_memberships, load_audience
from newsletter.db.rows import SubscriberError
from newsletter.db.suppression import is_suppressed, mark_bounced, unsubscribe
from newsletter.store.addresses import normalise_address, plain_address
from newsletter.store.models import Issue, Section, Summary
from newsletter.store.topics import load_taxonomy

HEADER = "email,name,topics,status,subscribed_at\n"


def write(workspace: Path, name: str, text: str, bom: bool = False) -> Path:
    path = workspace / "subscribers" / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run(workspace: Path, *args: str):
    return invoke(["-w", str(workspace), *args])


def audience_of(workspace: Path, lists: list[str] | None = None):
    members, tally = load_audience(state(workspace), lists)
    return members, tally


def statuses(workspace: Path) -> dict[tuple[str, str], str]:
    return {(r["list"], r["email"]): r["status"] for r in iter_memberships(state(workspace))}


def test_sample_list_loads(workspace):
    members, tally = audience_of(workspace)  # the first open moves subscribers/*.csv into the database
    emails = [m.email for m in members]
    assert "frank.former@example.org" not in emails  # unsubscribed and suppressed
    assert "chloe.lefevre@example.com" in emails
    assert tally.unsubscribed == 1
    assert [(m.first_name, m.last_name) for m in members if m.email.startswith("ana.")] == [("Ana", "Reader")]


def test_bad_rows_are_reported_with_file_line_and_reason(empty_workspace, tmp_path):
    path = tmp_path / "import.csv"
    path.write_text(
        HEADER
        + "ok@example.com,Ok,,subscribed,2026-01-01\n"
        + "not-an-address,Bad,,subscribed,2026-01-01\n"
        + 'evil@example.com,"Eve <eve@evil.example>, Bob",,subscribed,2026-01-01\n'
    )
    result = run(empty_workspace, "subscribers", "import", str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}:3: 'not-an-address' is not a valid email address" in result.output
    assert f"{path}:4: " in result.output
    members, _ = audience_of(empty_workspace, ["readers"])
    assert [m.email for m in members] == ["ok@example.com"]  # the bad rows never reach an audience


def test_a_file_with_no_valid_row_is_an_error(empty_workspace, tmp_path):
    path = tmp_path / "import.csv"
    path.write_text(
        HEADER + "not-an-address,Bad,,subscribed,2026-01-01\n" + "@example.com,Bad,,subscribed,\n"
    )
    result = run(empty_workspace, "subscribers", "import", str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:2: 'not-an-address' is not a valid email address" in result.output
    assert result.output.rstrip().endswith(
        f"Error: {path}: no valid rows, nothing imported; fix the rows above and import again"
    )


def test_bom_mixed_case_duplicates_and_semicolon_topics(empty_workspace, tmp_path):
    readers = tmp_path / "readers.csv"
    readers.write_bytes(
        b"\xef\xbb\xbfEmail,Name,Topics,Status,Subscribed_At\n"
        b"Ana@Example.COM,Ana,microglia; Gut and microbiome,subscribed,2026-01-01\n"
        b"ana@example.com,Ana again,,subscribed,2026-01-02\n"
    )
    clinicians = tmp_path / "clinicians.csv"
    clinicians.write_text(HEADER + "ANA@example.com,Dr Ana,,subscribed,2026-01-03\n")
    first = run(empty_workspace, "subscribers", "import", str(readers))
    run(empty_workspace, "subscribers", "import", str(clinicians), "--list", "clinicians")
    assert "1 duplicate rows" in first.output
    members, _ = audience_of(empty_workspace, ["readers", "clinicians"])
    assert len(members) == 1
    ana = members[0]
    assert ana.email == "Ana@example.com"  # normalised: the domain lower-cased
    assert ana.topics == ("Microglia", "Gut and microbiome")  # spelled as in topics.yaml


def test_an_unsubscribed_row_anywhere_wins_over_a_subscribed_one(empty_workspace):
    write(empty_workspace, "a.csv", HEADER + "bo@example.com,Bo,,subscribed,\n")
    write(empty_workspace, "b.csv", HEADER + "BO@example.com,Bo,,unsubscribed,\n")
    members, tally = audience_of(empty_workspace)
    assert members == []
    assert tally.unsubscribed == 1


def test_suppression_list_wins_over_every_list(empty_workspace):
    write(empty_workspace, "readers.csv", HEADER + "cy@example.com,Cy,,subscribed,\n")
    write(empty_workspace, "suppressed.csv", "email,reason,date\nCY@EXAMPLE.COM,complaint,2026-01-01\n")
    members, tally = audience_of(empty_workspace)
    assert members == []
    assert tally.suppressed == 1
    assert is_suppressed(state(empty_workspace), "cy@example.com")


def test_unknown_list_names_the_lists_there_are(workspace):
    with pytest.raises(SubscriberError, match=r"no list named nope \(lists here: readers\)"):
        audience_of(workspace, ["nope"])
    result = run(workspace, "subscribers", "export", "--list", "nope")
    assert result.exit_code == 1 and "no list named nope (lists here: readers)" in result.output


def test_unsubscribe_keeps_the_row_and_suppresses(workspace):
    changed = unsubscribe(state(workspace), "Ana.Reader@example.com", "one-click unsubscribe")
    assert changed == ["readers"]
    assert statuses(workspace)[("readers", "ana.reader@example.com")] == "unsubscribed"
    assert is_suppressed(state(workspace), "ana.reader@example.com")
    assert unsubscribe(state(workspace), "ana.reader@example.com", "again") == []  # idempotent


def test_mark_bounced(workspace):
    mark_bounced(state(workspace), "dev.patel@example.org", "550 no such user")
    assert statuses(workspace)[("readers", "dev.patel@example.org")] == "bounced"
    assert is_suppressed(state(workspace), "dev.patel@example.org")


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


def test_an_edition_follows_preferences_in_the_issue_order(workspace):
    taxonomy = load_taxonomy(workspace)
    summaries = {
        "gut": _summary("gut", ("Gut microbiome",)),
        "cells": _summary("cells", ("Microglia",)),
        "other": _summary("other", ("EAE",)),
    }
    issue = _issue()
    # A tag picks the summaries carrying it; a title picks its section; order is the issue's.
    both = edition_for(("EAE", "microglia"), issue, summaries, taxonomy)
    assert both == Variant(("cells", "other"), topics=("EAE", "Microglia"))  # as topics.yaml spells them
    gut = edition_for(("gut and microbiome",), issue, summaries, taxonomy, large_text=True)
    assert gut == Variant(("gut",), True, ("Gut and microbiome",))
    # Nothing matches: the whole issue, and the reader is told; no preferences: the whole issue.
    assert edition_for(("Pregnancy",), issue, summaries, taxonomy) == Variant(
        topics=("Pregnancy",), unmatched=True
    )
    assert edition_for((), issue, summaries, taxonomy) == Variant()
    assert edition_for(("Gut microbiome", "Microglia", "EAE"), issue, summaries, taxonomy) == Variant()


def test_cli_import_reports_added_updated_invalid_duplicates(workspace, tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(
        b"\xef\xbb\xbfEmail Address,First Name,Last Name,TAGS\n"
        b'new.person@example.com,New,Person,"MRI,Microglia"\n'
        b"ANA.READER@example.com,Ana,R.,\n"
        b"broken@,Nope,,\n"
        b"New.Person@example.com,Again,,\n"
    )
    result = run(workspace, "subscribers", "import", str(export))
    assert result.exit_code == 0, result.output
    assert "readers: 1 added, 1 updated, 0 unchanged" in result.output
    assert "1 invalid, 1 duplicate rows" in result.output
    assert f"{export}:4: 'broken@' is not a valid email address" in result.output
    assert f"{export}:5: New.Person@example.com repeats line 2" in result.output
    text = run(workspace, "subscribers", "export", "--status", "subscribed").stdout
    assert text.startswith("email,")
    new = [line for line in text.splitlines() if line.startswith("new.person@example.com,")]
    assert len(new) == 1 and ",New,Person," in new[0] and "MRI;Microglia" in new[0]


def test_cli_export_writes_a_file_that_imports_back_unchanged(workspace, tmp_path):
    out = tmp_path / "readers.csv"
    result = run(workspace, "subscribers", "export", "--list", "readers", "--out", str(out))
    assert result.exit_code == 0 and "wrote 6 rows" in result.output
    again = run(workspace, "subscribers", "import", str(out))
    assert "readers: 0 added, 0 updated, 5 unchanged, 1 opted out" in again.output, again.output


def test_cli_add_list_remove(workspace):
    result = run(workspace, "subscribers", "add", "Zoe@Example.org", "--name", "Zoë Q", "--topics", "MRI")
    assert result.output.endswith("added Zoe@example.org in readers\n"), result.output
    result = run(workspace, "subscribers", "list")
    assert "readers      subscribed   Zoe@example.org (Zoë Q)  topics: MRI" in result.output
    result = run(workspace, "subscribers", "remove", "zoe@example.org")
    assert result.exit_code == 0, result.output
    assert "unsubscribed zoe@example.org in readers" in result.output
    again = run(workspace, "subscribers", "remove", "zoe@example.org")
    assert (
        again.exit_code == 0 and "zoe@example.org was already unsubscribed; nothing changed" in again.output
    )
    result = run(workspace, "subscribers", "add", "zoe@example.org")
    assert result.exit_code == 1
    assert "is on the suppression list (removed by the editor)" in result.output
    result = run(workspace, "subscribers", "remove", "nobody@example.org")
    assert result.exit_code == 1
    assert "nobody@example.org is not in any list; nothing changed" in result.output
    result = run(workspace, "subscribers", "add", "x@example.org", "--name", "Bad\nName")
    assert result.exit_code == 1 and "line break" in result.output


def test_cli_erase_keeps_only_a_hash_and_a_later_import_cannot_add_them_back(workspace, tmp_path):
    result = run(workspace, "subscribers", "erase", "dev.patel@example.org")
    assert result.exit_code == 0 and "erased dev.patel@example.org: 1 list memberships" in result.output
    assert "dev.patel@example.org" not in run(workspace, "subscribers", "list").output
    back = tmp_path / "back.csv"
    back.write_text(HEADER + "dev.patel@example.org,Dev Patel,,subscribed,2026-03-08\n")
    result = run(workspace, "subscribers", "import", str(back))
    assert "0 added" in result.output and "1 suppressed (not resubscribed)" in result.output


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


def test_a_row_that_is_not_utf8_is_reported_with_its_line(empty_workspace, tmp_path):
    path = tmp_path / "readers.csv"
    path.write_bytes((HEADER + "ok@example.com,Ok,,subscribed,\n").encode())
    with path.open("ab") as f:
        f.write(b"ok2@example.com,Ok,,subscribed,\nzo\xe9@example.com,Zo\xe9,,subscribed,\n")

    result = run(empty_workspace, "subscribers", "import", str(path))

    assert result.exit_code == 1 and f"{path}:4: not UTF-8" in result.output
    assert audience_of(empty_workspace)[0] == []  # all of the file or none of it


def test_the_audience_streams_with_its_counts(empty_workspace):
    rows = [f"r{n}@example.com,R,,subscribed,\n" for n in range(5)]
    rows += ["R1@EXAMPLE.com,Again,,subscribed,\n", "r2@example.com,Gone,,unsubscribed,\n"]
    write(empty_workspace, "readers.csv", HEADER + "".join(rows))
    tally = AudienceTally()

    stream = iter_audience(state(empty_workspace), ["readers"], tally)
    first = next(stream)
    rest = list(stream)

    assert [s.email for s in [first, *rest]] == ["r0@example.com", "r1@example.com", "r3@example.com",
                                                 "r4@example.com"]  # fmt: skip
    assert (tally.recipients, tally.unsubscribed) == (4, 1)

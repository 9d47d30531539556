"""Importing other tools' CSV exports into the state database, and exporting CSV back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from newsletter.db import audience, csvexport, csvimport, csvstage
from newsletter.db import subscribers as subs
from newsletter.db import suppression as supp
from newsletter.errors import ContentError, NewsletterError

VOCABULARY = {"mri": "MRI", "caregivers": "Caregivers", "gut and microbiome": "Gut and microbiome"}

# The columns of a Mailchimp audience export (subscribed_members_export_*.csv), TAGS quoted inside the cell.
MAILCHIMP_HEADER = (
    '"Email Address","First Name","Last Name",Address,"Phone Number",MEMBER_RATING,OPTIN_TIME,'
    "OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,"
    "LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
)


def mailchimp_row(
    email: str,
    first: str,
    last: str,
    tags: str,
    optin: str = "2024-03-05 14:21:07",
    confirm: str = "2024-03-05 14:25:40",
) -> str:
    quoted = '"' + tags.replace('"', '""') + '"'
    ip = "192.0.2.7"
    return f'{email},{first},{last},,,2,"{optin}",{ip},"{confirm}",{ip},,,,,,,,"{confirm}",1,2,,{quoted}\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_mailchimp_export_keeps_names_quoted_tags_and_consent_dates(db, tmp_path):
    export = write(
        tmp_path / "subscribed_members_export.csv",
        MAILCHIMP_HEADER
        + mailchimp_row("ana@example.org", "Ana", "Reader", '"MRI","Website signup, 2024"')
        + mailchimp_row("ben@example.org", "Ben", "Caregiver", '"Caregivers"'),
    )

    report = csvimport.import_csv(db, export, "readers", VOCABULARY, keep_ip=True)

    assert report.lines()[0] == (
        "readers: 2 added, 0 updated, 0 unchanged, 0 opted out, "
        "0 suppressed (not resubscribed), 0 invalid, 0 duplicate rows"
    )
    assert report.unknown_topics == {"Website signup, 2024": 1}
    members, _ = audience.load_audience(db)
    assert [(m.first_name, m.last_name, m.topics) for m in members] == [
        ("Ana", "Reader", ("MRI",)),
        ("Ben", "Caregiver", ("Caregivers",)),
    ]
    ana = audience.person_data(db, "ana@example.org")["lists"][0]
    assert ana["subscribed_at"].startswith("2024-03-05T14:21:07") and ana["consent_at"].startswith(
        "2024-03-05T14:25:40"
    )
    assert ana["consent_source"] == "import" and ana["consent_ip"] == "192.0.2.7"
    assert members[0].subscribed_at == "2024-03-05"


def test_an_opt_out_anywhere_in_the_file_wins_whatever_its_case(db, tmp_path):
    export = write(
        tmp_path / "list.csv",
        "email,name,status\n"
        "bo@example.org,Bo Early,subscribed\n"
        "cy@example.org,Cy,Subscribed\n"
        "BO@EXAMPLE.ORG,Bo Later,UNSUBSCRIBED\n"
        "cy@example.org,Cy,cleaned\n",
    )

    report = csvimport.import_csv(db, export)

    assert (report.added, report.opted_out, len(report.duplicates)) == (0, 2, 2)
    assert report.duplicates[0] == f"{export}:4: BO@example.org repeats line 2; kept the first"
    assert audience.load_audience(db)[0] == []
    assert supp.is_suppressed(db, "bo@example.org") and supp.is_suppressed(db, "cy@example.org")
    assert audience.person_data(db, "bo@example.org")["first_name"] == "Bo"


def test_a_suppressed_or_erased_address_is_never_resubscribed_and_each_is_reported(db, tmp_path):
    supp.suppress(db, "gone@example.org", "asked by email to be removed")
    subs.add_subscriber(db, "erased@example.org")
    supp.erase(db, "erased@example.org")
    export = write(tmp_path / "in.csv", "Email,Status\nGone@example.org,subscribed\nerased@example.org,\n")

    report = csvimport.import_csv(db, export)

    assert report.suppressed == [
        f"{export}:2: Gone@example.org is suppressed (asked by email to be removed); not resubscribed",
        f"{export}:3: erased@example.org is suppressed (erased on request); not resubscribed",
    ]
    assert report.added == 0 and audience.load_audience(db)[0] == []


def test_a_second_import_updates_what_changed_and_never_blanks_what_is_stored(db, tmp_path):
    first = write(
        tmp_path / "a.csv",
        "email,first name,last name,tags\nana@example.org,Ana,Reader,MRI\nben@example.org,Ben,,\n",
    )
    csvimport.import_csv(db, first, vocabulary=VOCABULARY)
    second = write(
        tmp_path / "b.csv",
        "email,first name,last name,tags\nana@example.org,,,\nben@example.org,Ben,Caregiver,\n",
    )

    report = csvimport.import_csv(db, second, vocabulary=VOCABULARY)

    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    data = audience.person_data(db, "ana@example.org")
    assert (data["first_name"], data["last_name"], data["topics"]) == ("Ana", "Reader", ["MRI"])
    assert [e["kind"] for e in audience.person_data(db, "ben@example.org")["events"]] == [
        "subscribed",
        "updated",
    ]


@pytest.mark.parametrize(
    ("header", "row", "status"),
    [
        ("email,subscriber_type,creation_date", "a@example.org,unactivated,2024-01-02T03:04:05Z", "pending"),
        (
            "email,subscriber_type,creation_date",
            "a@example.org,regular,2024-01-02T03:04:05.123456Z",
            "subscribed",
        ),
        ("email,name,email_disabled,created_at", "a@example.org,A B,true,2024-01-02", "unsubscribed"),
        (
            "uuid,email,name,attributes,status,created_at,updated_at",
            'u1,a@example.org,A,"{}",blocklisted,2024-01-02 03:04:05.1+00,2024-01-02 03:04:05+00',
            "unsubscribed",
        ),
        (
            '"Email Address",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE',
            'a@example.org,"2024-02-02 10:00:00",May',
            "bounced",
        ),
        ('"Email Address","Email Marketing"', "a@example.org,Non-Subscribed", "pending"),
        ("email,status", "a@example.org,complained", "complained"),
    ],
    ids=[
        "buttondown-unactivated",
        "buttondown-regular",
        "substack-disabled",
        "listmonk-blocklisted",
        "mailchimp-cleaned",
        "mailchimp-nonsubscribed",
        "complained",
    ],
)
def test_other_tools_statuses_map_to_ours(db, tmp_path, header, row, status):
    csvimport.import_csv(db, write(tmp_path / "x.csv", f"{header}\n{row}\n"))
    assert audience.person_data(db, "a@example.org")["lists"][0]["status"] == status


def test_invalid_rows_are_reported_with_file_and_line_and_the_rest_imported(db, tmp_path):
    export = write(
        tmp_path / "x.csv",
        "email,first_name,status,created_at\n"
        "ok@example.org,Ok,,\n"
        "broken@,X,,\n"
        'evil@example.org,"Eve <eve@evil.example>",,\n'
        "who@example.org,Who,maybe,\n"
        "when@example.org,When,,last tuesday\n",
    )

    report = csvimport.import_csv(db, export)

    assert report.added == 1
    assert [line.split(": ", 1)[0] for line in report.invalid] == [f"{export}:{n}" for n in (3, 4, 5, 6)]
    assert (
        "unknown status 'maybe'" in report.invalid[2] and "'last tuesday' is not a date" in report.invalid[3]
    )


def test_a_file_that_is_not_utf8_is_refused_whole_with_its_line(db, tmp_path):
    export = tmp_path / "latin1.csv"
    export.write_bytes(b"email,name\nok@example.org,Ok\nzoe@example.org,Zo\xe9\n")

    with pytest.raises(ContentError, match=rf"{export}:3: not UTF-8 text .* save the file as UTF-8"):
        csvimport.import_csv(db, export)
    assert audience.list_names(db) == []  # nothing half-written
    with pytest.raises(
        ContentError, match=r"x.csv:1: no email column in the header row \(found: name, tags\)"
    ):
        csvimport.import_csv(db, write(tmp_path / "x.csv", "name,tags\nA,B\n"))


def test_export_writes_csv_that_imports_back_unchanged(db, tmp_path):
    subs.add_subscriber(
        db, "ana@example.org", first_name="Ana", last_name="Reader", topics=["MRI", "Caregivers"]
    )
    subs.add_subscriber(db, "bo@example.org", first_name="Bo")
    supp.unsubscribe(db, "bo@example.org", "one-click")
    out = io.StringIO()

    assert csvexport.export_csv(db, out) == 2
    text = out.getvalue()
    assert text.splitlines()[0] == (
        "email,first_name,last_name,list,status,topics,subscribed_at,consent_at,"
        "consent_source,consent_form_version,large_text,paused_until"
    )
    assert text.splitlines()[1].startswith("ana@example.org,Ana,Reader,readers,subscribed,MRI;Caregivers,")
    only_unsubscribed = io.StringIO()
    csvexport.export_csv(db, only_unsubscribed, statuses=["unsubscribed"])
    assert [line.split(",")[0] for line in only_unsubscribed.getvalue().splitlines()[1:]] == [
        "bo@example.org"
    ]

    report = csvimport.import_csv(db, write(tmp_path / "back.csv", text))
    assert (report.added, report.updated, report.unchanged, report.opted_out) == (0, 0, 1, 1)


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3"]  # `@` is refused in a name: see the topic


def test_export_quotes_cells_a_spreadsheet_would_run_and_import_takes_the_quote_off(db, tmp_path):
    for n, name in enumerate(FORMULAS):
        subs.add_subscriber(db, f"reader{n}@example.org", first_name=name, last_name="'Ohana")
    subs.add_subscriber(db, "-dash@example.org", first_name="Dash", topics=["@SUM(A1)"])
    out = io.StringIO()
    csvexport.export_csv(db, out)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["first_name"] for row in rows] == [f"'{name}" for name in FORMULAS] + ["Dash"]
    assert (rows[-1]["email"], rows[-1]["topics"]) == ("'-dash@example.org", "'@SUM(A1)")
    assert {row["last_name"] for row in rows[:-1]} == {"'Ohana"}  # a real apostrophe stays as it is

    for n, _ in enumerate(FORMULAS):
        subs.update_subscriber(db, f"reader{n}@example.org", first_name="Changed")
    report = csvimport.import_csv(db, write(tmp_path / "back.csv", out.getvalue()))
    assert (report.added, report.updated, report.invalid) == (0, len(FORMULAS), [])
    again = io.StringIO()
    csvexport.export_csv(db, again)
    assert again.getvalue() == out.getvalue()


def test_an_export_file_is_streamed_whole_private_and_one_line_when_it_cannot_be_written(db, tmp_path):
    subs.add_subscriber(db, "ana@example.org", first_name="Ana")
    out = tmp_path / "exports" / "readers.csv"
    expected = io.StringIO()
    csvexport.export_csv(db, expected)

    assert csvexport.export_file(db, out) == 1
    assert out.read_text(encoding="utf-8") == expected.getvalue()
    assert out.stat().st_mode & 0o777 == 0o600  # personal data
    assert [p.name for p in out.parent.iterdir()] == ["readers.csv"]

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(
        NewsletterError, match=rf"^{blocker}/readers.csv: cannot write \(.*\); check the folder"
    ):
        csvexport.export_file(db, blocker / "readers.csv")


def test_an_import_reports_its_progress_as_rows_loaded(db, tmp_path, monkeypatch):
    monkeypatch.setattr(csvstage, "BATCH", 40)
    rows = "".join(f"r{n}@example.org,R{n}\n" for n in range(100))
    seen: list[int] = []

    report = csvimport.import_csv(
        db, write(tmp_path / "in.csv", "email,name\n" + rows + "bad,X\n"), progress=seen.append
    )

    assert seen == [40, 80, 100] and report.added == 100 and len(report.invalid) == 1

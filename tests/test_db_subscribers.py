"""Subscribers in the state database: changes, the event log, the audience, suppression and erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.db import audience, events
from newsletter.db import schema as t
from newsletter.db import subscribers as subs
from newsletter.db import suppression as supp
from newsletter.db.schema import EventKind, Status

VOCABULARY = {"microglia": "Microglia", "mri": "MRI", "caregivers": "Caregivers"}


def emails(members) -> list[str]:
    return [m.email for m in members]


def history(db, email: str) -> list[str]:
    data = audience.person_data(db, email)
    return [e["kind"] for e in data["events"]] if data else []


def test_add_keeps_first_and_last_name_apart_and_topics_as_topics_yaml_spells_them(db):
    address, new = subs.add_subscriber(
        db,
        "Ana.Reader@Example.COM",
        first_name="Ana",
        last_name="Reader",
        topics=["mri", "Microglia", "MRI"],
        vocabulary=VOCABULARY,
    )

    assert (address, new) == ("Ana.Reader@example.com", True)
    [ana], tally = audience.load_audience(db)
    assert (ana.first_name, ana.last_name, ana.name) == ("Ana", "Reader", "Ana Reader")
    assert ana.topics == ("MRI", "Microglia") and ana.list_name == "readers" and tally.recipients == 1
    assert subs.add_subscriber(db, "ana.reader@example.com", first_name="Anna") == (
        "ana.reader@example.com",
        False,
    )
    assert history(db, "ANA.reader@example.com") == ["subscribed", "updated"]


@pytest.mark.parametrize(
    ("email", "names", "problem"),
    [
        ("not-an-address", {}, "'not-an-address' is not a valid email address"),
        (
            "x@example.org",
            {"first_name": "Eve <eve@evil.example>"},
            "first name 'Eve <eve@evil.example>' contains",
        ),
        ("x@example.org", {"last_name": "Bad\nName"}, "the last name contains a line break"),
        (
            "x@example.org",
            {"topics": ["Astrology"]},
            "unknown topic 'Astrology'; use a section title or a tag",
        ),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_written(db, email, names, problem):
    with pytest.raises(subs.SubscriberError, match=problem):
        subs.add_subscriber(db, email, vocabulary=VOCABULARY, **names)
    assert audience.list_names(db) == []


def test_an_opt_out_in_any_list_wins_and_suppression_wins_over_every_list(db):
    for email in ("ann@example.org", "bo@example.org", "cy@example.org", "di@example.org"):
        subs.add_subscriber(db, email, list_name="readers")
    subs.add_subscriber(db, "bo@example.org", list_name="clinicians")

    assert supp.unsubscribe(db, "BO@example.org", "one-click unsubscribe", lists=["clinicians"]) == [
        "clinicians"
    ]
    assert supp.mark_bounced(db, "cy@example.org", "550 5.1.1 no such user") == ["readers"]
    assert supp.suppress(db, "di@example.org", "asked by email") is True
    assert supp.suppress(db, "di@example.org", "again") is False

    members, tally = audience.load_audience(db, ["readers"])
    assert emails(members) == ["ann@example.org"]
    assert (tally.unsubscribed, tally.bounced, tally.suppressed) == (1, 1, 1)
    assert audience.tally_audience(db, ["readers"]) == tally  # a dry run's counts, from one query
    assert audience.tally_audience(db, ["clinicians"]).unsubscribed == 1
    assert supp.is_suppressed(db, "Bo@Example.org") and supp.is_suppressed(db, "cy@example.org")
    assert history(db, "cy@example.org") == ["subscribed", "bounced"]
    with pytest.raises(subs.SubscriberError, match=r"bo@example.org is on the suppression list \(one-click"):
        subs.add_subscriber(db, "bo@example.org")
    subs.add_subscriber(db, "bo@example.org", list_name="readers", resubscribe=True)  # they confirmed again
    assert "bo@example.org" not in emails(
        audience.load_audience(db, ["readers"])[0]
    )  # clinicians still says no


def test_unsubscribing_twice_changes_nothing_and_logs_once(db):
    subs.add_subscriber(db, "ann@example.org")
    assert supp.unsubscribe(db, "ann@example.org", "one-click") == ["readers"]
    assert supp.unsubscribe(db, "ann@example.org", "one-click") == []
    assert history(db, "ann@example.org") == ["subscribed", "unsubscribed"]


def test_pending_and_paused_people_are_left_out_until_confirmed_or_back(db):
    subs.add_subscriber(
        db, "new@example.org", status=Status.PENDING, consent=subs.Consent(t.now(), "form", "v1")
    )
    subs.add_subscriber(db, "away@example.org")
    subs.update_subscriber(
        db, "away@example.org", paused_until=t.now() + timedelta(days=90), source="preferences"
    )

    members, tally = audience.load_audience(db)
    assert members == [] and (tally.pending, tally.paused) == (1, 1)
    assert audience.tally_audience(db) == tally

    assert subs.confirm(db, "new@example.org", "readers", subs.Consent(t.now(), "form", "v1", ip="192.0.2.1"))
    assert not subs.confirm(db, "new@example.org", "readers", subs.Consent(t.now(), "form", "v1"))
    assert subs.update_subscriber(db, "away@example.org", paused_until=None) == {"paused_until": None}
    assert sorted(emails(audience.load_audience(db)[0])) == ["away@example.org", "new@example.org"]
    consent = audience.person_data(db, "new@example.org")["lists"][0]
    assert (
        consent["status"],
        consent["consent_source"],
        consent["consent_form_version"],
        consent["consent_ip"],
    ) == ("subscribed", "form", "v1", "192.0.2.1")


def test_preference_changes_say_what_changed(db):
    subs.add_subscriber(db, "ann@example.org", first_name="Ann", topics=["MRI"])
    changed = subs.update_subscriber(
        db,
        "ann@example.org",
        first_name="Anne",
        large_text=True,
        topics=["MRI", "Microglia"],
        source="preferences",
    )
    assert changed == {"first_name": "Anne", "large_text": True, "topics": ["MRI", "Microglia"]}
    assert subs.update_subscriber(db, "ann@example.org", first_name="Anne") == {}
    data = audience.person_data(db, "ann@example.org")
    assert (
        data["events"][-1]["kind"] == "preferences_changed" and data["events"][-1]["source"] == "preferences"
    )
    [ann], _ = audience.load_audience(db)
    assert ann.large_text and ann.topics == ("MRI", "Microglia")


def test_erasure_keeps_only_a_salted_hash_that_still_stops_a_later_add(db):
    subs.add_subscriber(db, "ann@example.org", first_name="Ann")
    supp.mark_bounced(db, "ann@example.org", "550 5.1.1 <ann@example.org> unknown")

    erasure = supp.erase(db, "Ann@example.org")

    assert erasure.found and erasure.memberships == 1 and erasure.events == 2
    assert audience.person_data(db, "ann@example.org") is None
    with db.connect() as connection:
        stored = [r for r in connection.execute(select(t.suppressions)).all()]
        log = connection.execute(select(t.events.c.kind, t.events.c.subscriber_id)).all()
        everything = " ".join(
            str(v) for table in t.TABLES for row in connection.execute(select(table)) for v in row
        )
    assert [(r.email_key, r.reason) for r in stored] == [(None, "erased on request")]
    assert log == [("erased", None)]
    assert "ann@" not in everything.lower()
    assert supp.is_suppressed(db, "ANN@example.org")
    with pytest.raises(subs.SubscriberError, match="is on the suppression list"):
        subs.add_subscriber(db, "ann@example.org")


def test_removing_someone_not_on_any_list_changes_nothing(db):
    with pytest.raises(subs.SubscriberError, match="nobody@example.org is not in any list; nothing changed"):
        supp.remove_subscriber(db, "nobody@example.org")
    assert events.count(db, EventKind.UNSUBSCRIBED) == 0


def test_the_audience_streams_in_batches_with_flat_memory(db):
    from newsletter.db.engine import writing

    now = t.now()
    with writing(db) as connection:
        lst = subs.list_id(connection, "readers")
        connection.execute(
            t.subscribers.insert(),
            [
                {
                    "email": f"r{n:05d}@example.org",
                    "email_key": f"r{n:05d}@example.org",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(1, 1201)
            ],
        )
        ids = connection.execute(select(t.subscribers.c.id).order_by(t.subscribers.c.id)).scalars().all()
        connection.execute(
            t.memberships.insert(),
            [{"subscriber_id": i, "list_id": lst, "status": "subscribed", "updated_at": now} for i in ids],
        )
        connection.execute(
            t.topic_preferences.insert(), [{"subscriber_id": ids[-1], "topic": "MRI", "position": 0}]
        )
    tally = audience.AudienceTally()
    stream = audience.iter_audience(db, None, tally)
    first = next(stream)
    rest = list(stream)
    assert first.email == "r00001@example.org" and len(rest) == 1199 and tally.recipients == 1200
    assert rest[-1].topics == ("MRI",)
    with db.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.events)).scalar() == 0


def test_a_send_sees_an_unsubscribe_and_an_erasure_at_once(db):
    from newsletter.delivery.ledger import Ledger
    from newsletter.delivery.records import SENDING, SKIPPED, NewRecipient

    people = ("ann@example.org", "bo@example.org", "cy@example.org")
    for email in people:
        subs.add_subscriber(db, email, list_name="readers")
    with Ledger(db) as ledger:
        ledger.start_run("2026-06", "smtp", [], [NewRecipient(email) for email in people])
        supp.unsubscribe(db, "ANN@example.org", "one-click unsubscribe")
        supp.erase(db, "bo@example.org")
        # The erased reader is no longer to send; the one who unsubscribed is refused at `sending`.
        rows = ledger.to_send("2026-06")
        assert [row.email for row in rows] == ["ann@example.org", "cy@example.org"]
        assert [ledger.mark_sending("2026-06", row.email) for row in rows] == [False, True]
        assert ledger.counts("2026-06")[SENDING] == 1 and ledger.counts("2026-06")[SKIPPED] == 1

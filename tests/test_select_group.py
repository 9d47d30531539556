"""Selection and grouping of an issue's summaries, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime

from factories import issue, summary
from hypothesis import given
from hypothesis import strategies as st

from newsletter.compose import group, select
from newsletter.store.topics import Taxonomy, TopicSection

TAXONOMY = Taxonomy(
    sections=(
        TopicSection("Related conditions", ("NMOSD", "MOGAD")),
        TopicSection("Immune cells and inflammation", ("Microglia", "B cells")),
        TopicSection("Diagnosis and monitoring", ("Biomarkers", "MRI")),
    ),
    more_research="More research",
)


MAY = select.Window(date(2026, 5, 1), date(2026, 5, 31))


def test_window_edges_are_inclusive():
    store = [
        summary("apr-30", date(2026, 4, 30)),
        summary("may-1", date(2026, 5, 1)),
        summary("may-31", date(2026, 5, 31)),
        summary("jun-1", date(2026, 6, 1)),
    ]
    chosen = select.eligible_summaries(store, MAY, send_date=None, carried=set())
    assert [s.id for s in chosen] == ["may-1", "may-31"]


def test_a_summary_dated_after_the_send_date_is_never_selected():
    window = select.Window(date(2026, 5, 1), date(2026, 6, 30))
    store = [summary("may-20", date(2026, 5, 20)), summary("jun-3", date(2026, 6, 3))]
    chosen = select.eligible_summaries(store, window, send_date=date(2026, 6, 2), carried=set())
    assert [s.id for s in chosen] == ["may-20"]


def test_summaries_an_earlier_issue_carried_are_left_out():
    earlier = issue("2026-05", date(2026, 4, 1), date(2026, 4, 30), ("old-one",))
    overlapping = issue("2026-06-extra", date(2026, 5, 1), date(2026, 5, 31), ("same-window",))
    carried = select.already_carried([earlier, overlapping], MAY)
    assert carried == {"old-one": "2026-05"}  # with no ledger, an issue whose window ended before counts
    store = [summary("old-one", date(2026, 5, 2)), summary("new-one", date(2026, 5, 3))]
    assert [s.id for s in select.eligible_summaries(store, MAY, None, carried)] == ["new-one"]


SENT_JUNE = select.SentRecord(runs=frozenset({"2026-06"}), sent={"2026-06": datetime(2026, 6, 2, tzinfo=UTC)})


def test_the_next_issue_is_named_for_its_send_month_and_covers_everything_since_the_last_one_sent():
    june = issue("2026-06", date(2026, 5, 1), date(2026, 5, 31), ("a",))
    # Six months later: December's issue, from June 1 to today, not "July" over June alone.
    assert select.next_issue([june], SENT_JUNE, date(2026, 12, 7)) == (
        "2026-12",
        select.Window(date(2026, 6, 1), date(2026, 12, 7)),
    )


def test_a_draft_that_was_neither_sent_nor_scheduled_is_not_what_the_next_issue_follows():
    june = issue("2026-06", date(2026, 5, 1), date(2026, 5, 31), ("a",))
    july_draft = issue("2026-07", date(2026, 6, 1), date(2026, 6, 30), ("b",))
    scheduled = issue("2026-08", date(2026, 7, 1), date(2026, 7, 31), ("c",), send_at=datetime(2026, 8, 3))

    assert select.gone_out([june, july_draft], SENT_JUNE) == june
    assert select.gone_out([june, july_draft, scheduled], SENT_JUNE) == scheduled
    assert select.gone_out([july_draft], select.SentRecord()) is None


def test_the_next_issue_after_one_sent_this_month_is_next_months():
    december = issue("2026-12", date(2026, 11, 1), date(2026, 11, 30), ("a",), send_at=datetime(2026, 12, 1))
    assert select.next_issue([december], select.SentRecord(), date(2026, 12, 7)) == (
        "2027-01",
        select.Window(date(2026, 12, 1), date(2026, 12, 7)),
    )


def test_the_first_issue_covers_the_previous_calendar_month_up_to_the_send_date():
    assert select.next_issue([], select.SentRecord(), date(2026, 1, 15)) == (
        "2026-01",
        select.Window(date(2025, 12, 1), date(2026, 1, 15)),
    )


def test_a_monthly_id_starts_after_the_last_issue_sent_however_long_ago():
    june = issue("2026-06", date(2026, 5, 1), date(2026, 5, 31), ("a",))
    assert select.window_for("2027-01", [june], SENT_JUNE) == select.Window(
        date(2026, 6, 1), date(2026, 12, 31)
    )


def test_a_monthly_id_starts_after_an_earlier_issue_that_ended_mid_month():
    mid = issue("2026-05b", date(2026, 5, 1), date(2026, 5, 15), ("a",))
    none = select.SentRecord()
    assert select.window_for("2026-06", [mid], none) == select.Window(date(2026, 5, 16), date(2026, 5, 31))
    assert select.window_for("june-special", [mid], none) is None


def test_what_a_draft_leaves_out_is_listed_with_the_reason():
    june = issue("2026-06", date(2026, 5, 1), date(2026, 5, 31), ("carried",))
    window = select.Window(date(2026, 6, 1), date(2026, 6, 30))
    store = [
        summary("skipped-in-may", date(2026, 5, 3)),
        summary("carried", date(2026, 6, 2)),
        summary("after-the-send", date(2026, 6, 20)),
        summary("july", date(2026, 7, 2)),
        summary("taken", date(2026, 6, 5)),
    ]
    found = select.left_out(store, window, date(2026, 6, 10), {"carried": "2026-06"}, [june])

    assert [(item.summary.id, item.reason) for item in found] == [
        ("skipped-in-may", "in 2026-06's window, which left it out; --since 2026-05-03 includes it"),
        ("carried", "carried by 2026-06"),
        ("after-the-send", "published after the send date 2026-06-10: the next issue takes it"),
        ("july", "published after 2026-06-30: the next issue takes it"),
    ]


def test_a_summary_goes_to_the_first_section_listing_any_of_its_tags_whatever_the_case():
    both = summary("both", date(2026, 5, 1), ("biomarkers", "B CELLS"))
    assert group.section_title(both, TAXONOMY) == "Immune cells and inflammation"
    stray = summary("stray", date(2026, 5, 1), ("Cats",))
    assert group.section_title(stray, TAXONOMY) == "More research"


def test_sections_follow_the_taxonomy_newest_first_with_the_catch_all_last_and_empty_ones_out():
    store = [
        summary("stray", date(2026, 5, 9), ()),
        summary("mri-old", date(2026, 5, 2), ("MRI",)),
        summary("mri-new", date(2026, 5, 20), ("MRI",)),
        summary("nmosd", date(2026, 5, 5), ("NMOSD",)),
        summary("mri-tie-b", date(2026, 5, 2), ("MRI",)),
    ]
    grouped = group.group_summaries(store, TAXONOMY)
    assert [(title, [s.id for s in items]) for title, items in grouped] == [
        ("Related conditions", ["nmosd"]),
        ("Diagnosis and monitoring", ["mri-new", "mri-old", "mri-tie-b"]),
        ("More research", ["stray"]),
    ]


def test_teasers_fill_only_the_sections_no_full_summary_fills():
    store = [
        summary("full-mri", date(2026, 5, 3), ("MRI",)),
        summary("teaser-mri", date(2026, 5, 1), ("Biomarkers",), as_teaser=True),
        summary("teaser-nmosd", date(2026, 5, 1), ("NMOSD",), as_teaser=True),
    ]
    sections = select.draft_sections(store, TAXONOMY)
    assert [(s.title, [x.id for x in s.items], s.teasers_only) for s in sections] == [
        ("Related conditions", ["teaser-nmosd"], True),
        ("Diagnosis and monitoring", ["full-mri"], False),
    ]
    assert [x.id for x in sections[1].teasers_left_out] == ["teaser-mri"]


TAGS = st.sampled_from(["NMOSD", "mogad", "Microglia", "b cells", "MRI", "Cats", "Brain", ""])
SUMMARIES = st.lists(
    st.builds(
        summary,
        sid=st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
        published=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
        topics=st.lists(TAGS.filter(bool), max_size=4).map(tuple),
        teaser=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda s: s.id,
)


def test_the_ledger_decides_which_earlier_issues_were_sent():
    sent_overlapping = issue("2026-06-extra", date(2026, 5, 1), date(2026, 5, 31), ("extra-one",))
    never_reached = issue("2026-05", date(2026, 4, 1), date(2026, 4, 30), ("old-one",))
    record = select.SentRecord(
        runs=frozenset({"2026-06-extra", "2026-05"}),
        sent={"2026-06-extra": datetime(2026, 5, 20, tzinfo=UTC)},
        summaries=frozenset({"extra-one", "from-a-deleted-issue"}),
    )
    carried = select.already_carried([sent_overlapping, never_reached], MAY, record)
    # Sent per the ledger although its window overlaps; a run that reached nobody carried nothing;
    # the ledger's record still names a summary whose issue file is gone.
    assert carried == {"extra-one": "2026-06-extra", "from-a-deleted-issue": None}


def test_the_issue_being_checked_is_not_carried_by_its_own_send():
    current = issue("2026-06", date(2026, 5, 1), date(2026, 5, 31), ("mine",))
    record = select.SentRecord(
        runs=frozenset({"2026-06"}),
        sent={"2026-06": datetime(2026, 6, 2, tzinfo=UTC)},
        summaries=frozenset({"mine", "older"}),
    )
    assert select.already_carried([], MAY, record, current) == {"older": None}


@given(SUMMARIES)
def test_every_summary_lands_in_exactly_one_section(store):
    grouped = group.group_summaries(store, TAXONOMY)
    placed = [s.id for _, items in grouped for s in items]
    assert sorted(placed) == sorted(s.id for s in store)
    assert all(items for _, items in grouped)


@given(SUMMARIES, st.randoms())
def test_grouping_does_not_depend_on_the_input_order(store, rng):
    shuffled = list(store)
    rng.shuffle(shuffled)
    assert group.group_summaries(shuffled, TAXONOMY) == group.group_summaries(store, TAXONOMY)


@given(SUMMARIES)
def test_a_draft_carries_each_eligible_summary_at_most_once_and_every_full_one(store):
    eligible = select.eligible_summaries(store, MAY, None, set())
    sections = select.draft_sections(eligible, TAXONOMY)
    drafted = [s.id for section in sections for s in section.items]
    assert len(drafted) == len(set(drafted))
    assert {s.id for s in eligible if not s.is_teaser} <= set(drafted)
    assert set(drafted) <= {s.id for s in eligible}

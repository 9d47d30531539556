"""The reader's words: whole sentences and an honest line for filtered readers (greetings: test_names.py)."""

from __future__ import annotations

import dataclasses
from datetime import date

from newsletter.render.reader_text import (
    count_phrase,
    filtered_line,
    sentences,
    topic_list,
    variant_line,
    variant_words,
)
from newsletter.store.models import Issue, Section

WHO = (
    "People with MS and their caregivers should care because the study points to a specific source of "
    "damage: invading immune cells' mitochondria, not the brain's resident immune cells, which could "
    "change how we think about treatments. This is like finding that sparks from a visiting worker cause "
    "the fire. Neurologists may use this idea."
)


def test_sentences_split_where_a_reader_would():
    assert sentences("One.  Two?\nThree! Four") == ["One.", "Two?", "Three!", "Four"]
    # Run together on the site's pages, still two sentences.
    assert sentences("It may ease fear.If so, good.") == ["It may ease fear.", "If so, good."]
    # Abbreviations, initialisms, initials and decimals stay inside their sentence.
    assert sentences("Seen in the U.S. Food data, e.g. MRI.") == ["Seen in the U.S. Food data, e.g. MRI."]
    assert sentences("Smith et al. (2024) found it. Dose 2.5 mg. J. Smith agreed.") == [
        "Smith et al. (2024) found it.",
        "Dose 2.5 mg.",
        "J. Smith agreed.",
    ]
    # "MS" is the disease, not an abbreviation: a sentence may end with it.
    assert sentences("It matters in MS. Then more.") == ["It matters in MS.", "Then more."]
    assert sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]


def test_a_filtered_reader_is_told_their_topics_and_how_many_of_the_issue():
    assert topic_list(["MRI"]) == "MRI"
    assert topic_list(["MRI", "Caregivers"]) == "MRI and Caregivers"
    assert topic_list(["MRI", "B cells", "Caregivers"]) == "MRI, B cells and Caregivers"
    assert filtered_line(["Caregivers", "Treatments and care"], 2, 9) == (
        "You chose Caregivers and Treatments and care, so this email has 2 of this issue's 9 summaries."
    )
    assert count_phrase(1) == "1 summary" and count_phrase(3) == "3 summaries"
    # Nothing to say when the reader gets everything.
    assert filtered_line([], 9, 9) == "" and filtered_line(["MRI"], 9, 9) == ""


ISSUE = Issue(
    id="2026-06",
    title="MS Research Roundup, June 2026",
    subject="Nine studies: microglia, gut and PML",
    preheader="Nine new studies from May, explained in plain language",
    since=date(2026, 5, 1),
    until=date(2026, 5, 31),
    intro="Hello.",
    sections=(Section("Gut", ("a", "b")), Section("More", tuple("cdefghi"))),
)


def test_readers_of_part_of_an_issue_are_never_promised_the_whole_of_it():
    topics = ("Gut", "MRI")
    whole = variant_words(ISSUE, "June 2026", topics, 9, 9)
    assert (whole.subject, whole.preheader, whole.note) == (ISSUE.subject, ISSUE.preheader, "")
    part = variant_words(ISSUE, "June 2026", topics, 2, 9)
    assert part.subject == "June 2026: 2 summaries on your topics"
    assert part.preheader == "2 summaries on your topics, picked from this issue's 9"
    assert part.note == "You chose Gut and MRI, so this email has 2 of this issue's 9 summaries."
    assert "Nine" not in part.subject + part.preheader + part.note
    named = variant_words(ISSUE, "June 2026", topics, 2, 9, name_topics_in_inbox=True)
    assert named.preheader == "2 summaries on Gut and MRI, picked from this issue's 9"


def test_a_reader_whose_topics_match_nothing_is_told_in_one_line():
    one = variant_words(ISSUE, "June 2026", ("Pregnancy",), 9, 9, unmatched=True)
    assert (one.subject, one.preheader) == (ISSUE.subject, ISSUE.preheader)
    assert one.note == "Your topic Pregnancy has no summary in this issue, so this email has all of it."
    two = variant_words(ISSUE, "June 2026", ("Pregnancy", "Relapses"), 9, 9, unmatched=True)
    assert two.note.startswith("None of your topics (Pregnancy and Relapses) has a summary")


def test_the_editor_may_word_the_lines_for_readers_of_part_of_the_issue():
    issue = dataclasses.replace(
        ISSUE,
        filtered_subject="Your {count} picks from June: {topics}",
        filtered_preheader="{summaries} of {total}, chosen by your topics",
    )
    one = variant_words(issue, "June 2026", ("Gut",), 1, 9)
    assert one.subject == "Your 1 picks from June: your topics"  # the editor's words; no topic named
    assert one.preheader == "1 summary of 9, chosen by your topics"
    assert variant_line("{summaries}  on   {topics}", "MRI", 3, 9) == "3 summaries on MRI"

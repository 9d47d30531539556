"""The benchmarks' pure helpers, by example: run with `python -m pytest bench/test_bench_helpers.py`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bench_preview import with_word  # noqa: E402
from benchkit import interleave, paired_ratios, spread  # noqa: E402
from profile_send import parse_stacks, worker_stacks  # noqa: E402
from sendrun import parse_rate  # noqa: E402

SEND_OUTPUT = """\
Issue 2026-06: Microglia, gut signals and what follows PML
  to send now: 2000
2000/2000  sent 2000  failed 0  skipped 0  714.5/s  0m00s left
Issue 2026-06: finished. Sent 2000 in this run (2.8 s). Totals: 2000 sent, 0 failed permanently.
"""


def test_the_send_rate_is_the_one_the_product_reports_for_its_sending_phase():
    assert parse_rate(SEND_OUTPUT, 2000, wall=10.0) == 714.5


def test_without_a_progress_line_the_rate_comes_from_the_summary_line_then_from_the_wall_time():
    assert parse_rate("Sent 2000 in this run (2.5 s).", 2000, wall=10.0) == 800.0
    assert parse_rate("done", 2000, wall=10.0) == 200.0


def test_a_send_that_sent_fewer_than_asked_is_an_error_not_a_figure():
    with pytest.raises(SystemExit, match="sent 1990 of 2000"):
        parse_rate(SEND_OUTPUT.replace("sent 2000", "sent 1990"), 2000, wall=10.0)


def test_an_edit_puts_the_word_at_the_start_of_a_block_or_inline_value():
    issue = "title: x\nintro: |\n  May was a month.\n\n  More.\nsections: []\n"
    assert with_word(issue, "intro", "Benchedit1") == (
        "title: x\nintro: |\n  Benchedit1 May was a month.\n\n  More.\nsections: []\n"
    )
    assert with_word("takeaway: Cells matter.\n", "takeaway", "W") == "takeaway: W Cells matter.\n"
    with pytest.raises(SystemExit, match="takeaway"):
        with_word("title: x\n", "takeaway", "W")


def test_trials_rotate_the_order_so_no_variant_always_goes_first():
    order: list[str] = []

    def variant(name: str) -> Callable[[], float]:
        def run() -> float:
            order.append(name)
            return 1.0

        return run

    results = interleave({name: variant(name) for name in "abc"}, trials=3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert results == {"a": [1.0] * 3, "b": [1.0] * 3, "c": [1.0] * 3}


def test_ratios_are_taken_trial_by_trial_and_shown_with_their_range():
    assert paired_ratios([2.0, 3.0], [4.0, 3.0]) == [0.5, 1.0]
    assert spread([0.5, 1.0, 0.7], "{:.2f}") == "0.70 (0.50-1.00)"


def test_py_spy_stacks_keep_only_the_workers():
    raw = (
        "Thread._bootstrap (threading.py:1002);SMTP.data (smtplib.py:907);_quote_periods (smtplib.py:180) 7\n"
        "<module> (<string>:8);Thread.join (threading.py:1119) 3\n"
    )
    stacks = worker_stacks(parse_stacks(raw))
    assert list(stacks.values()) == [7]
    (stack,) = stacks
    assert [frame[0] for frame in stack] == ["Thread._bootstrap", "SMTP.data", "_quote_periods"]
    assert stack[-1][1] == "smtplib.py:180"

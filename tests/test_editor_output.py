"""Output an editor can act on: sizes as sent that agree, times in the newsletter's zone, clear refusals."""

from __future__ import annotations

import re
from pathlib import Path

from factories import run


def test_build_and_check_give_the_same_html_size_as_sent(workspace: Path, tmp_path: Path):
    built = run(workspace, "build", "2026-06", "--out", str(tmp_path))
    checked = run(workspace, "check", "2026-06")

    from_build = re.search(r"email\.html  [\d.]+ KB \(([\d.]+) KB as sent, of Gmail's 102 KB\)", built.output)
    from_check = re.search(r"HTML ([\d.]+) KB as sent, of Gmail's 102 KB", checked.output)
    assert from_build and from_check, (built.output, checked.output)
    assert from_build.group(1) == from_check.group(1)


def test_a_recipient_who_is_not_a_subscriber_is_an_error_not_a_generic_email(workspace: Path):
    result = run(workspace, "check", "2026-06", "--recipient", "nobody@example.net")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: nobody@example.net is not a subscriber who gets the issue (`newsletter subscribers list`); "
        "give a subscribed address, or leave out --recipient for a sample reader"
    )


def test_status_shows_times_in_the_newsletters_time_zone(workspace: Path):
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0

    status = run(workspace, "status", "2026-06")

    first = status.output.splitlines()[0]
    # The sample newsletter is in America/New_York: EST or EDT, never the stored UTC offset.
    assert re.match(
        r"2026-06: finished \(finished \d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T, via outbox\)", first
    )

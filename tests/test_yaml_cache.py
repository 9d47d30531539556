"""The parsed-YAML cache: unchanged files are read again without a YAML parser, and say the same.

Every test starts from the sample workspace with its files dated a minute back (as files are
that were not just edited), so the cache may keep them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from newsletter.errors import ConfigError, ContentError
from newsletter.store import config, content
from newsletter.store.yamlcache import CACHE_FILE, yaml_cache

# Loads what `summaries list` and most commands load, and tells which parsers it needed.
LOAD = """
import json, sys
from pathlib import Path
from newsletter.store import config, content
root = Path(sys.argv[1])
settings = config.load_settings(root)
summaries = content.load_summaries(root)
print(json.dumps({
    "parsers": sorted(m for m in ("yaml", "email_validator") if m in sys.modules),
    "sender": settings.sender.email,
    "summaries": {k: [s.title, s.published.isoformat(), list(s.topics)] for k, s in summaries.items()},
}))
"""


def load_in_a_new_process(workspace: Path) -> dict:
    command = [sys.executable, "-c", LOAD, str(workspace)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def date_back(*paths: Path, seconds: int = 60) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


@pytest.fixture
def settled(workspace: Path) -> Path:
    """The sample workspace, every YAML file last changed a minute ago."""
    date_back(*workspace.rglob("*.yaml"))
    return workspace


def cached_keys(workspace: Path) -> set[str]:
    return set(json.loads((workspace / CACHE_FILE).read_text())["entries"])


def test_a_second_load_of_unchanged_files_needs_no_yaml_and_gives_the_same(settled):
    first = load_in_a_new_process(settled)
    second = load_in_a_new_process(settled)

    assert first["parsers"] == ["yaml"]  # plain addresses never need email-validator
    assert second["parsers"] == []
    assert second == {**first, "parsers": []}
    assert len(second["summaries"]) == 25
    assert {
        "newsletter.yaml",
        "summaries/2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml",
    } <= cached_keys(settled)


def test_in_one_process_the_cached_load_equals_the_parsed_one(settled):
    parsed = content.load_summaries(settled), config.load_settings(settled)
    cached = content.load_summaries(settled), config.load_settings(settled)
    assert cached == parsed


def test_each_load_gets_its_own_copy_of_the_data(settled):
    path = settled / "newsletter.yaml"
    with yaml_cache(settled) as cache:
        cache.load(path, "newsletter.yaml")
    with yaml_cache(settled) as cache:
        first = cache.load(path, "newsletter.yaml")
        first.data["name"] = "changed by a caller"
        assert cache.load(path, "newsletter.yaml").data["name"] != "changed by a caller"


def test_an_edit_keeping_size_and_mtime_is_read_again(settled):
    path = settled / "summaries" / "2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml"
    load_in_a_new_process(settled)
    before = path.stat()
    text = path.read_text()
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    same_length = "title: " + "X" * (len(title) - len("title: "))
    path.write_text(text.replace(title, same_length))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same size and mtime: only ctime says

    after = load_in_a_new_process(settled)

    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert after["summaries"]["2026-05-11-understanding-immune-cells-ms-helpers-hurters"][
        0
    ] == same_length.removeprefix("title: ")
    assert after["parsers"] == ["yaml"]


def test_a_file_changed_as_the_cache_was_written_is_parsed_again(settled):
    # Changed within the same tick of the clock as the cache's writing, a file could have been
    # changed again after it was read with its stat unchanged: such an entry is not trusted.
    load_in_a_new_process(settled)
    summary = settled / "summaries" / "2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml"
    mtime = summary.stat().st_mtime_ns
    os.utime(settled / CACHE_FILE, ns=(mtime, mtime))

    assert load_in_a_new_process(settled)["parsers"] == ["yaml"]
    assert load_in_a_new_process(settled)["parsers"] == []  # the cache written anew trusts it


def test_a_file_changed_just_now_is_not_kept_until_it_has_settled(settled):
    path = settled / "summaries" / "2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml"
    load_in_a_new_process(settled)
    path.write_text(path.read_text().replace("title: '", "title: 'New ", 1))

    assert load_in_a_new_process(settled)["parsers"] == ["yaml"]
    assert f"summaries/{path.name}" not in cached_keys(settled)
    again = load_in_a_new_process(settled)
    assert again["parsers"] == ["yaml"]
    assert again["summaries"]["2026-05-11-understanding-immune-cells-ms-helpers-hurters"][0].startswith(
        "New "
    )


def test_a_removed_file_leaves_the_cache_when_it_is_next_written(settled):
    load_in_a_new_process(settled)
    (settled / "summaries" / "2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml").unlink()
    (settled / "summaries" / "fresh.yaml").write_bytes(
        (settled / "summaries" / "2026-05-14-lab-grown-human-microglia-point-targets.yaml").read_bytes()
    )
    date_back(settled / "summaries" / "fresh.yaml")

    found = load_in_a_new_process(settled)

    assert "2026-05-11-understanding-immune-cells-ms-helpers-hurters" not in found["summaries"]
    assert "summaries/2026-05-11-understanding-immune-cells-ms-helpers-hurters.yaml" not in cached_keys(
        settled
    )
    assert "summaries/fresh.yaml" in cached_keys(settled)


def corrupt_entries(text: str) -> str:
    """The real cache with every entry's stat kept and its data and lines spoiled."""
    cache = json.loads(text)
    for entry in cache["entries"].values():
        entry["data"], entry["lines"] = "{", 5
    return json.dumps(cache)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda text: "",
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "\x00" * len(text),
        lambda text: "[1, 2]",
        lambda text: text.replace('"format":1', '"format":999'),
        lambda text: "[" * 100_000,  # deeper than json can go
        corrupt_entries,
    ],
    ids=["empty", "truncated", "zeros", "a-list", "other-format", "deep", "bad-entries"],
)
def test_a_spoiled_cache_is_ignored_and_replaced(settled, spoil):
    expected = load_in_a_new_process(settled)
    cache_file = settled / CACHE_FILE
    cache_file.write_text(spoil(cache_file.read_text()))
    date_back(cache_file, seconds=-5)  # written after the files, as it was

    found = load_in_a_new_process(settled)

    assert found == expected
    assert load_in_a_new_process(settled) == {**expected, "parsers": []}


def test_a_cache_that_is_a_folder_is_ignored(settled):
    (settled / CACHE_FILE).mkdir(parents=True)
    first = load_in_a_new_process(settled)
    assert load_in_a_new_process(settled) == first  # parsed every time, no error


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_workspace_still_loads(settled):
    os.chmod(settled, 0o555)
    try:
        first = load_in_a_new_process(settled)
        assert load_in_a_new_process(settled) == first
    finally:
        os.chmod(settled, 0o755)
    assert not (settled / CACHE_FILE).exists()


def test_a_workspace_where_the_cache_cannot_be_written_still_loads(settled):
    (settled / ".newsletter").write_text("a file where the folder would go\n")
    first = load_in_a_new_process(settled)
    assert first["parsers"] == ["yaml"] and len(first["summaries"]) == 25
    assert load_in_a_new_process(settled) == first


def problems_of(load, workspace: Path) -> str:
    with pytest.raises((ContentError, ConfigError)) as caught:
        load(workspace)
    return caught.value.message


def test_errors_and_their_lines_are_the_same_from_the_cache(settled):
    bad = settled / "summaries" / "bad-fields.yaml"
    bad.write_text("title: A title\nurl: http://example.org\npublished: 2026-02-30\ntakeaway: x\n")
    broken = settled / "summaries" / "broken.yaml"
    broken.write_text("title: A title\nurl: [unclosed\n")
    settings = settled / "newsletter.yaml"
    settings.write_text(settings.read_text().replace("timezone: America/New_York", "timezone: Mars/Olympus"))
    date_back(bad, broken, settings)

    parsed = problems_of(content.load_summaries, settled), problems_of(config.load_settings, settled)
    assert {"summaries/bad-fields.yaml", "newsletter.yaml"} <= cached_keys(settled)
    assert "summaries/broken.yaml" not in cached_keys(settled)  # only what parses is kept
    cached = problems_of(content.load_summaries, settled), problems_of(config.load_settings, settled)

    assert cached == parsed
    assert "summaries/bad-fields.yaml:2: url:" in cached[0] and "bad-fields.yaml:3: published:" in cached[0]
    assert "summaries/broken.yaml:3: invalid YAML" in cached[0]
    assert "newsletter.yaml:12: timezone: unknown time zone 'Mars/Olympus'" in cached[1]


def test_dates_and_other_tagged_values_come_back_exactly(settled):
    path = settled / "tagged.yaml"
    path.write_text(
        "published: 2026-05-01\n"  # a date as text: the loaders parse it and name the field
        "when: !!timestamp 2026-05-01 12:30:00\n"
        "day: !!timestamp 2026-05-01\n"
        "1: a number as a key\n"
    )
    date_back(path)
    content.load_summaries(settled)  # writes the cache

    loads = []
    for _ in range(2):
        with yaml_cache(settled) as cache:
            loads.append(cache.load(path, "tagged.yaml").data)

    assert loads[0] == loads[1]
    assert loads[1]["published"] == "2026-05-01"
    assert loads[1]["when"] == datetime(2026, 5, 1, 12, 30) and loads[1]["day"] == date(2026, 5, 1)
    assert loads[1][1] == "a number as a key"
    assert "tagged.yaml" not in cached_keys(settled)  # JSON would not give these back exactly
    summary = content.load_summaries(settled)["2026-05-11-understanding-immune-cells-ms-helpers-hurters"]
    assert (
        content.load_summaries(settled)["2026-05-11-understanding-immune-cells-ms-helpers-hurters"].published
        == summary.published
    )
    assert isinstance(summary.published, date)


def test_a_list_or_mapping_as_a_key_is_refused_in_one_line(settled):
    (settled / "summaries" / "odd-key.yaml").write_text("title: T\n? [a, b]\n: c\n")
    message = problems_of(content.load_summaries, settled)
    assert "summaries/odd-key.yaml:2: invalid YAML: a key must be a plain value" in message

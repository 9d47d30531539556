"""The outbox provider: one .eml per recipient, stable names, proofs kept apart."""

from __future__ import annotations

import errno
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from message_helpers import tiny_factory

from newsletter.db.audience import load_audience
from newsletter.db.state import open_state
from newsletter.providers import open_provider
from newsletter.providers.base import OutgoingMessage
from newsletter.providers.outbox import GroupSync, OutboxProvider, sync_files
from newsletter.store.config import load_settings


def test_one_eml_per_subscriber_and_a_rerun_overwrites(workspace):
    provider = open_provider("", load_settings(workspace))
    make = tiny_factory(workspace)
    people = load_audience(open_state(load_settings(workspace)))[0]  # members are readers as they are
    for _run in range(2):
        results = [provider.send(make.build(s)) for s in people]
    files = sorted((workspace / "outbox" / "2026-06").glob("*.eml"))
    assert len(files) == len(people) == 5
    assert all(r.ok for r in results)
    names = [f.name for f in files]
    assert "ana.reader_at_example.com-" in names[0]
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "ana.reader@example.com"
    assert not list((workspace / "outbox" / "2026-06").glob(".*.tmp"))


def test_a_proof_does_not_overwrite_the_real_message(workspace, tmp_path):
    provider = open_provider(f"outbox:{tmp_path / 'proofs'}", load_settings(workspace))
    provider.send(tiny_factory(workspace).build("ana.reader@example.com"))
    provider.send(tiny_factory(workspace, test=True).build("ana.reader@example.com"))
    names = sorted(p.name for p in (tmp_path / "proofs" / "2026-06").iterdir())
    assert len(names) == 2 and names[1].startswith("test-")


# -- durable before `sent`, with one sync for many files --------------------------------------------


def outgoing(n: int) -> OutgoingMessage:
    return OutgoingMessage("2026-06", "roundup@example.org", f"r{n}@example.org", f"<{n}@x>", b"Hi\r\n" * 100)


def test_each_file_is_durable_before_it_is_reported_sent_and_workers_share_syncs(tmp_path):
    on_disk_at_sync: list[set[Path]] = []

    def recording_sync(batch: list[Path]) -> None:
        on_disk_at_sync.append(set(tmp_path.rglob("*.eml")))
        time.sleep(0.02)  # a disk flush takes a while: meanwhile other workers queue up behind it
        sync_files(batch)

    group = GroupSync(recording_sync)
    results: list[tuple[Path, int]] = []

    def worker(first: int) -> None:
        provider = OutboxProvider(tmp_path, group)
        for n in range(first, first + 10):
            result = provider.send(outgoing(n))
            assert result.status == "sent"
            results.append((Path(result.detail), group.syncs))

    threads = [threading.Thread(target=worker, args=(k * 10,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 40
    for path, syncs_done in results:  # a sync that had already seen the file had finished
        assert any(path in seen for seen in on_disk_at_sync[:syncs_done])
    assert group.syncs < 40  # four workers share flushes
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_sync_is_a_transient_failure_and_the_next_send_syncs_again(tmp_path):
    failures = [OSError(errno.EIO, "Input/output error")]

    def flaky(batch: list[Path]) -> None:
        if failures:
            raise failures.pop()
        sync_files(batch)

    provider = OutboxProvider(tmp_path, GroupSync(flaky))
    first, second = provider.send(outgoing(1)), provider.send(outgoing(2))
    assert (first.status, second.status) == ("transient", "sent")
    assert "Input/output error" in first.detail


def test_sync_files_flushes_without_error(tmp_path):
    path = tmp_path / "a.eml"
    path.write_bytes(b"x")
    sync_files([path])  # syncfs where the system has it, else an fsync of the file and its folder

"""The outbox provider: one .eml per recipient, stable names, proofs kept apart."""

from __future__ import annotations

import errno
import os
from email import message_from_bytes, policy

from message_helpers import tiny_factory

from newsletter.db.audience import load_audience
from newsletter.db.state import open_state
from newsletter.providers import open_provider, outbox
from newsletter.providers.base import OutgoingMessage
from newsletter.providers.outbox import OutboxProvider
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


# -- durable before `sent` ---------------------------------------------------------------------------


def outgoing(n: int) -> OutgoingMessage:
    return OutgoingMessage("2026-06", "roundup@example.org", f"r{n}@example.org", f"<{n}@x>", b"Hi\r\n" * 100)


def test_the_file_and_its_name_are_flushed_before_it_is_reported_sent(tmp_path, monkeypatch):
    flushed: list[tuple[str, bool]] = []  # (what was flushed, whether the final name existed yet)
    real_fsync = os.fsync
    provider = OutboxProvider(tmp_path)
    final = provider.path_for(outgoing(1))

    def recording_fsync(fd: int) -> None:
        flushed.append((os.readlink(f"/proc/self/fd/{fd}"), final.exists()))
        real_fsync(fd)

    monkeypatch.setattr(outbox.os, "fsync", recording_fsync)
    assert provider.send(outgoing(1)).status == "sent"
    assert flushed[0][0].endswith(".tmp") and not flushed[0][1]  # the bytes, before the rename
    assert flushed[-1] == (str(final.parent), True)  # then the folder holding the new name
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_flush_is_a_transient_failure_and_leaves_no_file(tmp_path, monkeypatch):
    real_fsync = os.fsync
    failures = [OSError(errno.EIO, "Input/output error")]

    def flaky(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(outbox.os, "fsync", flaky)
    provider = OutboxProvider(tmp_path)
    first = provider.send(outgoing(1))
    assert first.status == "transient" and "Input/output error" in first.detail
    assert not provider.path_for(outgoing(1)).exists() and not list(tmp_path.rglob("*.tmp"))
    assert provider.send(outgoing(2)).status == "sent"

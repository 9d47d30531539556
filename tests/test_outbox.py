"""The outbox provider: one .eml per recipient, stable names, proofs kept apart."""

from __future__ import annotations

from email import message_from_bytes, policy

from message_helpers import tiny_factory

from newsletter.db.audience import load_audience
from newsletter.db.state import open_state
from newsletter.delivery.audience import member_subscriber
from newsletter.providers import open_provider
from newsletter.store.config import load_settings


def test_one_eml_per_subscriber_and_a_rerun_overwrites(workspace):
    provider = open_provider("", load_settings(workspace))
    make = tiny_factory(workspace)
    people = [member_subscriber(m) for m in load_audience(open_state(load_settings(workspace)))[0]]
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

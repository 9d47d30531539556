"""Secrets from the environment and keys from files: a bad one is one line before anything is sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEND = [sys.executable, "-m", "newsletter", "send", "2026-06", "--provider", "smtp://127.0.0.1:9", "--yes"]


def send(workspace: Path, secret: bytes | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSLETTER_SECRET"}
    environb = {k.encode(): v.encode() for k, v in env.items()}
    if secret is not None:
        environb[b"NEWSLETTER_SECRET"] = secret
    return subprocess.run(SEND, cwd=workspace, env=environb, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (b"   \t  ", "NEWSLETTER_SECRET is blank; set it to a long random value"),
        (b"\xff\xfe" * 20, "NEWSLETTER_SECRET holds bytes that are not UTF-8 text"),
        (b"a long secret with spaces in it", "NEWSLETTER_SECRET holds spaces or control characters"),
        (b"x7Qz-8aLp", "NEWSLETTER_SECRET is too weak (at most 59 bits of entropy; it needs 256"),
        (b"a" * 16, "NEWSLETTER_SECRET repeats characters"),
        (b"s" * 64, "NEWSLETTER_SECRET repeats characters"),
        (b"0123456789abcdef" * 4, "NEWSLETTER_SECRET repeats characters"),
        (b"00ff3b0b6f2b8849458e3b7a5f0c2d11", "NEWSLETTER_SECRET is too weak"),  # 16 random bytes in hex
    ],
)
def test_a_bad_secret_is_refused_in_one_line_without_quoting_it(workspace: Path, secret: bytes, message: str):
    result = send(workspace, secret)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # not dressed up as a check finding
    assert not secret.strip() or secret.decode("latin-1") not in result.stderr
    if b"weak" in message.encode() or b"repeats" in message.encode():
        assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in result.stderr


def test_a_random_secret_as_the_fix_makes_it_is_accepted(monkeypatch):
    import secrets

    from newsletter.mail import tokens

    for make in (lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32)):
        value = make()
        monkeypatch.setenv(tokens.SECRET_ENV, value)
        assert tokens.signing_secret(dev_ok=False) == (value.encode(), False)


def test_a_dkim_key_that_does_not_parse_stops_before_any_message(workspace: Path):
    (workspace / "dkim.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    )
    settings = workspace / "newsletter.yaml"
    settings.write_text(
        settings.read_text()
        + "dkim:\n  selector: news\n  domain: msresearch.example.org\n  key_file: dkim.pem\n"
    )
    result = send(workspace, b"a-long-enough-secret-for-the-test-0123456789")
    assert result.returncode == 1
    assert (
        "newsletter.yaml: dkim.key_file:" in result.stderr and "is not a usable private key" in result.stderr
    )
    assert "Traceback" not in result.stderr

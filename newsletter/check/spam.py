"""The spam score: SpamAssassin run locally on the sample message, and what its verdict means.

A SpamAssassin that is installed but broken (no rules, a crash, garbage output, a hang) is a
finding saying it could not score, never a crash of `check`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from newsletter.check.findings import Finding, Severity, SpamScore

SPAM_WARN = 2.0
SPAM_ERROR = 5.0  # SpamAssassin's default "this is spam" threshold
TIMEOUT = 120.0  # seconds; a cold SpamAssassin takes a few


@dataclass(frozen=True)
class SpamFailure:
    """SpamAssassin ran but gave no score; `reason` says why, in a phrase."""

    reason: str


def spamassassin_available() -> bool:
    return shutil.which("spamassassin") is not None


def parse_spamassassin(output: str) -> SpamScore:
    """Read the score and rules from `spamassassin -t` output (the X-Spam-Status header and report)."""
    status = re.search(r"^X-Spam-Status:(.*?)\n(?!\s)", output, re.MULTILINE | re.DOTALL)
    if status is None:
        raise ValueError("no X-Spam-Status header in SpamAssassin's output")
    header = " ".join(status.group(1).split())
    score = re.search(r"score=(-?[\d.]+)", header)
    required = re.search(r"required=(-?[\d.]+)", header)
    if score is None or required is None:
        raise ValueError(f"cannot read the score from X-Spam-Status: {header[:200]}")
    try:
        values = float(score.group(1)), float(required.group(1))
    except ValueError:
        raise ValueError(f"cannot read the score from X-Spam-Status: {header[:200]}") from None
    # The report's table: " pts rule name   description", one rule a line.
    rules = tuple(
        (name, float(points))
        for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", output, re.MULTILINE)
    )
    if not rules:
        tests = re.search(r"tests=(\S*)", header)
        names = [t for t in (tests.group(1).split(",") if tests else []) if t and t != "none"]
        rules = tuple((name, 0.0) for name in names)
    return SpamScore(values[0], values[1], rules)


def run_spamassassin(message: bytes, timeout: float = TIMEOUT) -> SpamScore:
    """Score a message with the local rules only (-L: no DNS or network tests), learning nothing.

    Raises SpamAssassinError when it cannot be run, times out, fails or prints no score.
    """
    program = shutil.which("spamassassin")
    if program is None:
        raise SpamAssassinError("it is not installed")
    with tempfile.TemporaryDirectory(prefix="newsletter-sa-") as home:
        prefs = Path(home) / "user_prefs"
        prefs.write_text("")
        try:
            result = subprocess.run(
                [program, "-L", "-t", "-p", str(prefs), "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"],
                input=message,
                capture_output=True,
                timeout=timeout,
                env={"HOME": home, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"},
            )
        except subprocess.TimeoutExpired:
            raise SpamAssassinError(f"no answer within {timeout:g} s") from None
        except OSError as exc:
            raise SpamAssassinError(f"cannot run {program} ({exc.strerror})") from None
    if result.returncode != 0:
        said = _first_line(result.stderr) or _first_line(result.stdout) or "nothing"
        raise SpamAssassinError(f"it exited with status {result.returncode} and said: {said}")
    try:
        return parse_spamassassin(result.stdout.decode("utf-8", "replace"))
    except ValueError as exc:
        raise SpamAssassinError(str(exc)) from None


class SpamAssassinError(Exception):
    """SpamAssassin is there but gave no score; the message says why."""


def _first_line(output: bytes) -> str:
    """The first non-blank line of a program's output, printable and short (it goes to a terminal)."""
    for line in output.decode("utf-8", "replace").splitlines():
        line = "".join(c if c.isprintable() else "?" for c in line).strip()
        if line:
            return line[:200]
    return ""


def score_message(message: bytes, timeout: float = TIMEOUT) -> SpamScore | SpamFailure | None:
    """The score, why there is none (SpamFailure), or None when SpamAssassin is not installed."""
    if not spamassassin_available():
        return None
    try:
        return run_spamassassin(message, timeout)
    except SpamAssassinError as exc:
        return SpamFailure(str(exc))


def spam_findings(spam: SpamScore | SpamFailure | None, where: str = "email") -> list[Finding]:
    if spam is None:
        return [
            Finding(
                Severity.NOTE,
                "SpamAssassin is not installed, so the spam score was not checked",
                where,
                "install it (apt-get install spamassassin) to score the message locally",
            )
        ]
    if isinstance(spam, SpamFailure):
        return [
            Finding(
                Severity.WARNING,
                f"SpamAssassin could not score: {spam.reason}",
                where,
                "run `spamassassin -L -t < message.eml` to see why (no rules: run sa-update)",
            )
        ]
    hits = ", ".join(f"{name} {points:+.1f}" for name, points in spam.rules if points) or "none scoring"
    what = f"SpamAssassin scores the sample message {spam.score:.1f} (rules: {hits})"
    if spam.score >= SPAM_ERROR:
        return [Finding(Severity.ERROR, what, where, "remove what the rules above flag; 5.0 means spam")]
    if spam.score > SPAM_WARN:
        return [Finding(Severity.WARNING, what, where, "look at the rules above; aim for under 2.0")]
    return [Finding(Severity.NOTE, what, where, "nothing to do; SpamAssassin calls 5.0 spam")]

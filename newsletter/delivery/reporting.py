"""The one channel from delivery to the person running it: live counts and the events of a send.

The library never prints: it calls a Reporter, and the command line decides how that looks
(`newsletter.console`). Tests pass a recording one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from newsletter.delivery.outcome import RunOutcome
    from newsletter.delivery.plan import SendPlan


@dataclass
class Tally:
    """Live counts of this invocation, shared by the sending threads (guarded by `lock`)."""

    total: int
    sent: int = 0
    failed_permanent: int = 0
    failed_transient: int = 0
    unknown: int = 0
    skipped: int = 0
    hard_bounces: int = 0  # of failed_permanent: refused for the address (providers.replies)
    retries: int = 0
    consecutive_errors: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> int:
        return self.sent + self.failed_permanent + self.failed_transient + self.unknown + self.skipped

    @property
    def failed(self) -> int:
        return self.failed_permanent + self.failed_transient + self.unknown


class Reporter(Protocol):
    """What a send tells the person running it, as data; how it looks is the caller's business."""

    def note(self, text: str) -> None:
        """Something worth knowing that needs no answer (a sentence, without a trailing newline)."""

    def plan(self, plan: SendPlan) -> None:
        """Who will get the issue, before anything is sent (the scheduler reports it here)."""

    def progress(self, tally: Tally, final: bool) -> None:
        """Live counts, about once a second while sending, and once more (`final`) at the end."""

    def outcome(self, outcome: RunOutcome) -> None:
        """How the run ended (the scheduler reports it here)."""


class Silent:
    """A Reporter that drops everything (a library caller that wants only the returned results)."""

    def note(self, text: str) -> None:
        pass

    def plan(self, plan: SendPlan) -> None:
        pass

    def progress(self, tally: Tally, final: bool) -> None:
        pass

    def outcome(self, outcome: RunOutcome) -> None:
        pass

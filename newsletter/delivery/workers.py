"""One worker process of a send: it joins the run its parent started and sends its share of it.

The parent (delivery.crew) passes only plain data, a `Job`; the worker opens its own settings,
ledger, provider and message factory, and reads every secret (NEWSLETTER_SECRET, the SMTP and
database passwords) from the environment it inherited. It talks to its parent over two pipes: up,
"ready", its counts about twice a second, the first reason it stopped ("halt"), and at the end
"done" or "failed" with a one-line reason; down, "go" (once every worker is ready), "stop" (after
the messages in flight) or "now".
It never records how the run ended (the parent does), never starts a run, prints nothing, and dies
with its parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass
from multiprocessing import parent_process
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from newsletter.compose.reader import Variant
from newsletter.delivery.records import RunState
from newsletter.delivery.reporting import Tally, counted
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.mail.renderings import Rendered

PROGRESS_EVERY = 0.5  # seconds between a worker's counts: the parent's progress line and bounce check
NOW_EXIT = 130  # a worker told to stop at once leaves its messages in flight `sending` (-> unknown)


@dataclass(frozen=True)
class Job:
    """What a worker process is told (pickled to it: plain data and no secret)."""

    workspace: str
    issue_id: str
    provider: str | None  # the send's --provider, or None for newsletter.yaml's
    rate: float  # this worker's share of the send's messages per second
    connections: int  # this worker's share of the send's connections
    max_attempts: int
    dev_key_ok: bool  # the outbox may sign with the development key, as the parent decided
    digest: str  # of the issue the parent checked: a worker refuses an issue changed since
    # The renderings most of the run's readers get, made once by the parent: a worker given them
    # neither renders them again nor loads the renderer (Jinja2, MJML, premailer).
    rendered: tuple[tuple[Variant, Rendered], ...] = ()


# The workspace's files a message is made from, besides the issue and its summaries.
SHAPING_FILES = ("newsletter.yaml", "topics.yaml")
SHAPING_FOLDER = "templates"


def issue_digest(workspace: Path, issue: object, summaries: dict[str, Any]) -> str:
    """A fingerprint of what the messages are made from (the issue and its summaries as loaded, the
    settings, the topics and the template overrides), so a worker sends what its parent would."""
    digest = hashlib.sha256(repr((issue, sorted(summaries.items()))).encode())
    files = [workspace / name for name in SHAPING_FILES]
    files += sorted((workspace / SHAPING_FOLDER).rglob("*"))
    for path in filter(Path.is_file, files):  # regular files only: reading a FIFO would wait forever
        with contextlib.suppress(OSError):  # a file that cannot be read counts as its absence
            data = path.read_bytes()
            digest.update(f"\0{path.relative_to(workspace)}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


class Up:
    """The pipe to the parent; worker threads and the main thread send on it, one message at a time."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.lock = threading.Lock()

    def send(self, *message: object) -> None:
        with self.lock, contextlib.suppress(OSError):  # a parent gone: the worker dies with it anyway
            self.connection.send(message)


class PipeReporter:
    """A Reporter that sends the worker's counts up; the parent shows one line for the whole send."""

    def __init__(self, up: Up):
        self.up = up
        self.last: tuple[int, ...] = ()

    def note(self, text: str) -> None:
        pass

    def plan(self, plan: object) -> None:
        pass

    def progress(self, tally: Tally, final: bool) -> None:
        self.last = counted(tally)
        self.up.send("counts", self.last)

    def outcome(self, outcome: object) -> None:
        pass


def work(job: Job, up_end: Connection, down: Connection) -> None:
    """The worker process's main function (multiprocessing's target)."""
    _quiet()
    _die_with_parent()
    up = Up(up_end)
    reporter = PipeReporter(up)
    try:
        state, note = _send(job, up, down, reporter)
    except KeyboardInterrupt:  # a second Ctrl-C: its messages in flight stay `sending` (-> unknown)
        os._exit(NOW_EXIT)
    except NewsletterError as exc:
        up.send("failed", exc.message)
        return
    except Exception as exc:  # noqa: BLE001 - any fault is the parent's to report, as one line
        up.send("failed", f"{type(exc).__name__}: {exc}")
        return
    up.send("done", state.value, note, reporter.last)


def _send(job: Job, up: Up, down: Connection, reporter: PipeReporter) -> tuple[RunState, str]:
    # Imported here, in the worker, so the parent's module stays light.
    from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE
    from newsletter.bounces.settings import bounce_settings
    from newsletter.delivery import audience
    from newsletter.delivery.engine import Engine
    from newsletter.delivery.ledger import open_ledger
    from newsletter.delivery.pacing import DeliveryOptions
    from newsletter.mail.factory import MessageFactory
    from newsletter.mail.tokens import signing_secret
    from newsletter.providers import open_provider
    from newsletter.store import issues
    from newsletter.store.config import load_settings

    settings = load_settings(Path(job.workspace))
    issue, summaries = issues.load_issue_content(settings.workspace, job.issue_id)
    if issue_digest(settings.workspace, issue, summaries) != job.digest:
        raise DeliveryError(
            f"issue {job.issue_id} or its settings, topics or templates changed on disk after"
            " `newsletter send` checked it; run the send again"
        )
    secret, _ = signing_secret(dev_ok=job.dev_key_ok)
    bounces = bounce_settings(settings)
    with open_ledger(settings) as ledger:
        run = ledger.run(job.issue_id)
        if run is None or run.state != RunState.RUNNING:
            # Starting or resuming a run is the parent's job, after the check and the plan.
            raise DeliveryError(
                f"a worker process only joins a running send of issue {job.issue_id}, and its run is "
                f"{run.state if run else 'not started'}"
            )
        factory = MessageFactory.for_issue(
            settings,
            issue,
            summaries,
            secret,
            bounce_to=bounces.address if bounces else None,
            prepared=dict(job.rendered),
        )
        engine = Engine(
            ledger,
            job.issue_id,
            build=factory.build,
            open_provider=lambda: open_provider(job.provider, settings),
            options=DeliveryOptions(job.rate, job.connections, job.max_attempts),
            on_bounce=audience.mark_bounced(ledger.engine),
            reporter=reporter,
            pause_rate=bounces.pause_rate if bounces else PAUSE_RATE,
            pause_min_attempts=bounces.pause_min_attempts if bounces else PAUSE_MIN_ATTEMPTS,
            progress_interval=PROGRESS_EVERY,
            on_halt=lambda state, note: up.send("halt", state.value, note),
            records_end=False,
        )
        go = threading.Event()
        threading.Thread(target=_listen, args=(down, engine, go), name="parent", daemon=True).start()
        up.send("ready")
        go.wait()  # all workers start together, once each is ready (or at once, told to stop)
        outcome = engine.run()
    return outcome.state, outcome.note


def _listen(down: Connection, engine: Any, go: threading.Event) -> None:
    """Do what the parent says: start sending, stop after the messages in flight, or stop now."""
    while True:
        try:
            message = down.recv()
        except (EOFError, OSError):
            return  # the parent closed its end: it is gone or done; _die_with_parent handles the first
        if message[0] == "stop":
            engine.halt(RunState(message[1]), message[2])
            go.set()
        elif message[0] == "go":
            go.set()
        elif message[0] == "now":
            os._exit(NOW_EXIT)


def _quiet() -> None:
    """Nothing a worker writes reaches the parent's terminal: faults go up the pipe as one line."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _die_with_parent() -> None:
    """A parent killed outright (kill -9) takes its workers with it, as a crash of one process would:
    their messages in flight stay `sending`, which the next send records as `unknown`."""
    parent = parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(NOW_EXIT)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

"""The yardsticks of a send: Postfix's C sink and C client, and a bare smtplib loop, all on loopback.

`smtp-sink` and `smtp-source` come with Postfix (Debian: `apt-get install postfix`); the sink
accepts and discards mail as fast as the kernel moves bytes, so what a client achieves against it
is the client's own speed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from benchkit import free_port, started, wait_for_port

POSTFIX_DIRS = ("/usr/sbin", "/usr/lib/postfix/sbin", "/usr/libexec/postfix", "/usr/local/sbin")
ENVELOPE_FROM = "roundup@msresearch.example.org"


def postfix_tool(name: str) -> str:
    """The path of `smtp-sink` or `smtp-source`; SystemExit saying how to install them if absent."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in POSTFIX_DIRS if os.access(f"{d}/{name}", os.X_OK)), None
    )
    if not found:
        raise SystemExit(
            f"{name} not found: it comes with Postfix; on Debian or Ubuntu: sudo apt-get install postfix "
            "(choose 'No configuration'; the benchmark needs only the test tools, not the mail server)"
        )
    return found


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """Run Postfix's smtp-sink on 127.0.0.1 (a free port) for the block; yields the port."""
    port = free_port()
    command = [postfix_tool("smtp-sink"), "-4", "-m", "512"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # it refuses to run as root without a user to switch to
    command += [f"127.0.0.1:{port}", "512"]
    # Its complaints go to a file, not a pipe nobody reads while it runs (a full pipe would stall it).
    with tempfile.TemporaryFile() as log, started(command, stdout=subprocess.DEVNULL, stderr=log):
        try:
            wait_for_port(port)
        except SystemExit:
            log.seek(0)
            raise SystemExit(f"smtp-sink did not start: {log.read().decode(errors='replace')}") from None
        yield port


def bare_smtplib(port: int, data: bytes, threads: int, messages: int) -> float:
    """Messages/s of plain smtplib.sendmail loops, one connection per thread, the same bytes each time."""
    per_thread = max(1, messages // threads)
    errors: list[BaseException] = []

    def loop(offset: int) -> None:
        try:
            conn = smtplib.SMTP("127.0.0.1", port, timeout=30)
            conn.ehlo()
            for n in range(per_thread):
                conn.sendmail(ENVELOPE_FROM, [f"reader{offset + n:06d}@example.org"], data)
            conn.quit()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller, not lost in a thread
            errors.append(exc)

    workers = [threading.Thread(target=loop, args=(t * per_thread,)) for t in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"bare smtplib loop failed: {errors[0]!r}")
    return per_thread * threads / elapsed


def smtp_source(port: int, message_file: Path, sessions: int, messages: int) -> float:
    """Messages per second of Postfix's C client: `sessions` connections, each kept for many messages (-d)."""
    command = [
        postfix_tool("smtp-source"), "-4", "-d", "-s", str(sessions), "-m", str(messages),
        "-F", str(message_file), "-f", ENVELOPE_FROM, "-t", "reader@example.org", f"127.0.0.1:{port}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"smtp-source failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return messages / elapsed

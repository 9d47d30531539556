"""A private Postfix on loopback that bounces mail to unknown local users: genuine RFC 3464 reports.

Its own configuration, queue and data folders in a temporary folder, SMTP on a loopback port,
every report relayed to a loopback SMTP sink. Needs root (Postfix's master drops to its own user)
and Debian's postfix; skips with the reason otherwise.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from dovecot_server import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DOMAIN = "mx-test.example.net"  # delivered locally by this Postfix: never looked up

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{domain}
mydomain = {domain}
mydestination = {domain}
# Accept any local part at SMTP time, so the local delivery agent bounces it afterwards with a DSN.
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
smtp_tls_security_level = none
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
biff = no
"""

SERVICES = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class ReportSink:
    """A loopback SMTP server (aiosmtpd) keeping the bytes of every report Postfix relays to it."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's interface
        self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 kept"

    def wait_for(self, count: int, seconds: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


@dataclass(frozen=True)
class PostfixServer:
    port: int
    sink: ReportSink
    root: Path


@pytest.fixture
def postfix_server() -> Iterator[PostfixServer]:
    if not Path(POSTFIX).exists():
        pytest.skip("Postfix is not installed (Debian: apt-get install postfix)")
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root (its master drops to the postfix user)")
    sink = ReportSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
    os.chmod(root, 0o755)
    for folder in ("conf", "queue", "data"):
        (root / folder).mkdir()
    os.chown(root / "data", pwd.getpwnam("postfix").pw_uid, -1)
    port = free_port()
    (root / "conf" / "main.cf").write_text(
        MAIN_CF.format(root=root, domain=DOMAIN, sink_port=controller.port)
    )
    (root / "conf" / "master.cf").write_text(SERVICES.format(port=port))
    command = [POSTFIX, "-c", str(root / "conf")]
    started = subprocess.run([*command, "start"], capture_output=True, text=True, timeout=60)
    try:
        if started.returncode != 0:
            log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
            pytest.fail(f"postfix did not start: {started.stdout}{started.stderr}\n{log}")
        yield PostfixServer(port, sink, root)
    finally:
        subprocess.run([*command, "stop"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 10
        while (root / "data" / "master.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the master removes nothing; wait for its processes to end
        shutil.rmtree(root, ignore_errors=True)
        controller.stop()

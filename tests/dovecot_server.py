"""A real IMAP server for the bounce tests: Debian's Dovecot on a loopback port, IMAPS only.

A throw-away configuration, one user with a password, mail in a temporary Maildir, and a
certificate made by the test. Skips with the reason when Dovecot is not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tls_helpers import Certificates, make_certificates

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "bounces"
PASSWORD = "imap-test-password"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    certificates: Certificates
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accounts() -> dict[str, object]:
    """Who Dovecot runs as: its own users under root, else this user for everything."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return {"internal": "dovecot", "internal_group": "dovecot", "login": "dovenull",
                "uid": nobody.pw_uid, "gid": nobody.pw_gid}  # fmt: skip
    me = pwd.getpwuid(os.geteuid())
    return {"internal": me.pw_name, "internal_group": me.pw_name, "login": me.pw_name,
            "uid": me.pw_uid, "gid": me.pw_gid}  # fmt: skip


def start_dovecot(root: Path) -> ImapServer:
    if not Path(DOVECOT).exists():
        pytest.skip("Dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    certificates = make_certificates(root / "tls")
    accounts = _accounts()
    port = free_port()
    (root / "mail").mkdir(parents=True)
    for folder in (root, root / "mail", root.parent):
        os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        os.chown(root / "mail", int(accounts["uid"]), int(accounts["gid"]))  # type: ignore[call-overload]
        os.chmod(certificates.key, 0o600)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(root=root, cert=certificates.cert, key=certificates.key, port=port, **accounts)
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            pytest.fail(f"dovecot exited: {output}\n{log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("dovecot did not open its port within 15 s")
    return ImapServer("127.0.0.1", port, USER, PASSWORD, certificates, process)


def stop_dovecot(server: ImapServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    """A fresh Dovecot with an empty mailbox for each test."""
    # Not under pytest's temporary folder: that is private to this user, and Dovecot's own
    # processes (running as its users) must read the configuration and the password file.
    root = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
    try:
        server = start_dovecot(root / "server")
        yield server
        stop_dovecot(server)
    finally:
        shutil.rmtree(root, ignore_errors=True)

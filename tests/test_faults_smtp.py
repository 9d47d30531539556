"""`newsletter send` against hostile SMTP servers: never two copies, `unknown` when it cannot know.

Each server counts what it kept per recipient, so "exactly once" is checked against what readers
would really get. The data timeout is 1 s here (10 minutes by default, RFC 5321 4.5.3.2.6).
"""

from __future__ import annotations

import pytest
from fault_helpers import EXIT_ALL_SENT, EXIT_FAILURES, EXIT_PROBLEM, ready, send, states, status
from hostile_servers import (
    HostileSmtpServer,
    SmtpBehaviour,
    answers_421,
    drops_after_final_dot,
    drops_mid_data,
    escape_replies,
    late_final_reply,
    silent_after_greeting,
)

from newsletter.providers import open_provider, redact_url
from newsletter.providers.smtp import SmtpProvider


def smtp(server: HostileSmtpServer, timeout: float = 1.0, data_timeout: float = 1.0) -> str:
    return f"smtp://127.0.0.1:{server.port}?starttls=no&timeout={timeout}&data_timeout={data_timeout}"


def test_a_final_reply_later_than_the_data_timeout_is_unknown_sent_once_and_resent_only_when_asked(
    workspace,
):
    emails = ready(workspace, 2, max_attempts=5)
    with HostileSmtpServer(late_final_reply(2.0)) as slow:
        first = send(workspace, smtp(slow))
        again = send(workspace, smtp(slow))
        kept = slow.received()

    assert first.exit_code == EXIT_FAILURES, first.output
    assert kept == dict.fromkeys(emails, 1)  # before: 10 copies each, recorded failed_transient
    assert states(workspace) == dict.fromkeys(emails, "unknown")
    text, data = status(workspace)
    assert data["counts"]["unknown"] == 2 and data["counts"]["sent"] == 0
    assert f"  {emails[0]}: unknown after 1 attempt(s): no reply from 127.0.0.1:" in text
    assert again.exit_code == EXIT_FAILURES
    assert "2 recipient(s) may have got the issue already" in again.output

    with HostileSmtpServer(SmtpBehaviour()) as prompt:
        resent = send(workspace, smtp(prompt), "--resend-unknown")
        assert prompt.received() == dict.fromkeys(emails, 1)
    assert resent.exit_code == EXIT_ALL_SENT, resent.output
    assert status(workspace)[1]["counts"]["sent"] == 2


def test_a_final_reply_within_the_data_timeout_is_waited_for_even_past_the_command_timeout(workspace):
    emails = ready(workspace, 1)
    with HostileSmtpServer(late_final_reply(0.6)) as server:
        result = send(workspace, smtp(server, timeout=0.2, data_timeout=2))
        assert server.received() == {emails[0]: 1}
    assert result.exit_code == EXIT_ALL_SENT, result.output


def test_a_connection_dropped_after_the_final_dot_is_unknown_and_not_sent_again(workspace):
    emails = ready(workspace, 2, max_attempts=5)
    with HostileSmtpServer(drops_after_final_dot()) as server:
        result = send(workspace, smtp(server))
        assert server.received() == dict.fromkeys(emails, 1)
    assert result.exit_code == EXIT_FAILURES
    assert states(workspace) == dict.fromkeys(emails, "unknown")


def test_a_connection_dropped_mid_data_after_the_body_left_is_unknown_with_nothing_kept(workspace):
    """The whole body was written before the server hung up: the client cannot tell this from a
    server that read the final "." and crashed, so it records `unknown` rather than risk a copy."""
    emails = ready(workspace, 2, max_attempts=5)
    with HostileSmtpServer(drops_mid_data()) as server:
        result = send(workspace, smtp(server))
        assert server.received() == {}
    assert result.exit_code == EXIT_FAILURES
    assert states(workspace) == dict.fromkeys(emails, "unknown")


@pytest.mark.parametrize("phase", ["greeting", "mail", "rcpt", "final"])
def test_a_421_is_transient_retried_on_a_fresh_connection_and_nothing_is_kept(workspace, phase):
    emails = ready(workspace, 1)
    with HostileSmtpServer(answers_421(phase)) as server:
        result = send(workspace, smtp(server))
        assert server.received() == {}
        # Before the hand-over the provider tries a fresh connection once; a 421 to "." is a refusal.
        assert server.connections == (1 if phase == "final" else 2)
    assert result.exit_code == EXIT_FAILURES
    assert states(workspace) == {emails[0]: "failed_transient"}
    assert "421 4.3.2" in status(workspace)[1]["failures"][0]["error"]


def test_a_server_silent_after_its_greeting_times_out_as_a_transient_failure(workspace):
    emails = ready(workspace, 2)
    with HostileSmtpServer(silent_after_greeting()) as server:
        # The server never answers: only the 0.3 s timeout ends the send (without it, this hangs).
        result = send(workspace, smtp(server, timeout=0.3))
        assert server.received() == {}
    assert result.exit_code == EXIT_FAILURES
    assert states(workspace) == dict.fromkeys(emails, "failed_transient")


def test_escape_sequences_in_replies_are_shown_escaped_never_raw(workspace):
    emails = ready(workspace, 2)
    with HostileSmtpServer(escape_replies(refused=emails[1])) as server:
        result = send(workspace, smtp(server))
        assert server.received() == {emails[0]: 1}
    text, data = status(workspace)

    assert result.exit_code == EXIT_FAILURES
    escaped = "550 5.1.1 \\x1b]0;pwned\\x07\\x1b[31mFAKE ERROR\\x1b[0m\\x1b[2J\\x9b0m user unknown"
    assert data["failures"][0]["error"] == escaped
    for shown in (result.output, text):
        assert escaped in shown
        assert not {"\x1b", "\x07", "\x9b"} & set(shown)


def test_credentials_in_provider_urls_are_redacted_in_errors_and_reprs(workspace):
    ready(workspace, 1)
    https = send(workspace, "https://editor:hunter2@mail.example.org/")
    smtp_password = send(workspace, "smtp://editor:hunter2@127.0.0.1:25")
    token = send(workspace, "smtp://editor@127.0.0.1:25?starttls=no&token=hunter2")
    bad_timeout = send(workspace, "smtp://127.0.0.1:25?data_timeout=0")

    for result in (https, smtp_password, token, bad_timeout):
        assert result.exit_code == EXIT_PROBLEM
        assert "hunter2" not in result.output and "Traceback" not in result.output
    assert "provider 'https://***@mail.example.org/': not a provider name or URL" in https.output
    assert "secrets never go in the URL" in smtp_password.output
    assert "provider 'smtp://***@127.0.0.1:25?starttls=no&token=***': unknown option token" in token.output
    assert "data_timeout must be a number of seconds above 0" in bad_timeout.output
    assert redact_url("see smtp://u:p@ss@host:25 and ses://K:S@eu-west-1?x=1") == (
        "see smtp://***@host:25 and ses://***@eu-west-1?x=1"
    )
    provider = SmtpProvider("mail.example.org", 587, "starttls", "editor", "hunter2")
    assert repr(provider) == "SmtpProvider(starttls editor@mail.example.org:587)"


def test_the_data_timeout_is_ten_minutes_unless_set(workspace):
    from newsletter.store.config import load_settings

    settings = load_settings(workspace)
    default, configured = (
        open_provider(url, settings) for url in ("smtp://h:25", "smtp://h:25?data_timeout=90")
    )
    assert isinstance(default, SmtpProvider) and isinstance(configured, SmtpProvider)
    assert (default.data_timeout, configured.data_timeout) == (600, 90)

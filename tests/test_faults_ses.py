"""`newsletter send` through the SES provider against a loopback endpoint that answers too late or not at all.

The endpoint counts every request body it took per recipient: that is what SES would send. The
client waits 1 s for an answer here (60 s by default).
"""

from __future__ import annotations

from fault_helpers import AWS_ENV, EXIT_ALL_SENT, EXIT_FAILURES, EXIT_PROBLEM, ready, send, states, status
from hostile_servers import SlowSesEndpoint

from newsletter.providers.ses import SesProvider


def ses(endpoint: SlowSesEndpoint, timeout: float = 1.0) -> str:
    return f"ses://eu-west-1?endpoint={endpoint.url}&timeout={timeout}"


def test_an_answer_later_than_the_timeout_is_unknown_sent_once_and_resent_only_when_asked(workspace):
    emails = ready(workspace, 2, max_attempts=5)
    with SlowSesEndpoint(delay=2.0) as slow:
        first = send(workspace, ses(slow), env=AWS_ENV)
        kept = slow.received()
        assert slow.problems == []

    assert first.exit_code == EXIT_FAILURES, first.output
    assert kept == dict.fromkeys(emails, 1)  # before: 2 copies each with max_attempts 1, failed_transient
    assert states(workspace) == dict.fromkeys(emails, "unknown")
    text, data = status(workspace)
    assert data["counts"]["unknown"] == 2
    assert f"  {emails[1]}: unknown after 1 attempt(s): no answer from http://127.0.0.1:" in text

    with SlowSesEndpoint() as prompt:
        resent = send(workspace, ses(prompt), "--resend-unknown", env=AWS_ENV)
        assert prompt.received() == dict.fromkeys(emails, 1)
    assert resent.exit_code == EXIT_ALL_SENT, resent.output


def test_an_endpoint_that_hangs_up_after_the_request_is_unknown_and_not_sent_again(workspace):
    emails = ready(workspace, 2, max_attempts=5)
    with SlowSesEndpoint(drop=True) as endpoint:
        result = send(workspace, ses(endpoint), env=AWS_ENV)
        again = send(workspace, ses(endpoint), env=AWS_ENV)
        assert endpoint.received() == dict.fromkeys(emails, 1)
    assert (result.exit_code, again.exit_code) == (EXIT_FAILURES, EXIT_FAILURES)
    assert states(workspace) == dict.fromkeys(emails, "unknown")


def test_an_endpoint_that_is_not_there_is_a_transient_failure(workspace):
    emails = ready(workspace, 1)
    with SlowSesEndpoint() as gone:
        url = gone.url
    result = send(workspace, f"ses://eu-west-1?endpoint={url}", env=AWS_ENV)
    assert result.exit_code == EXIT_FAILURES
    assert states(workspace) == {emails[0]: "failed_transient"}


def test_a_kept_alive_connection_the_server_closed_is_replaced_not_taken_for_a_lost_hand_over(workspace):
    emails = ready(workspace, 3)
    with SlowSesEndpoint(hang_up_after_answer=True) as endpoint:
        result = send(workspace, ses(endpoint), "--rate", "10", env=AWS_ENV)
        assert endpoint.received() == dict.fromkeys(emails, 1)
    assert result.exit_code == EXIT_ALL_SENT, result.output


def test_keys_in_an_ses_url_are_never_shown(workspace):
    ready(workspace, 1)
    result = send(workspace, "ses://AKIDSHOWN:S3cr3tS3cr3t@eu-west-1", env=AWS_ENV)
    assert result.exit_code == EXIT_PROBLEM
    assert "provider 'ses://***@eu-west-1': write ses://REGION" in result.output
    assert "S3cr3tS3cr3t" not in result.output and "AKIDSHOWN" not in result.output


def test_keys_in_an_endpoint_url_are_never_shown(monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    provider = SesProvider("eu-west-1", endpoint="https://u:pw@ses.example/")
    assert repr(provider) == "SesProvider(eu-west-1 at https://***@ses.example/)"

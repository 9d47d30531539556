"""The `service:` settings: defaults from the rest of newsletter.yaml, every problem reported at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sample_workspace import copy_sample_workspace

from newsletter.errors import ConfigError
from newsletter.store.config import load_settings
from newsletter.web.service.settings import service_settings


def parsed(tmp_path, text: str):
    """The service settings of the sample workspace with `text` added at the end of newsletter.yaml."""
    root = copy_sample_workspace(tmp_path / "ws")
    settings_file = root / "newsletter.yaml"
    settings_file.write_text(settings_file.read_text() + text)
    return service_settings(load_settings(root))


def test_without_a_service_block_the_defaults_follow_the_site(tmp_path):
    service = parsed(tmp_path, "")
    assert service.base_url == "https://msresearch.example.org/newsletter/"
    assert service.allowed_origins == ("https://msresearch.example.org",)
    assert (service.list_name, service.confirm_days, service.keep_ip) == ("readers", 7, False)


def test_every_key_is_read(tmp_path):
    service = parsed(
        tmp_path,
        "service:\n  base_url: https://news.example.org/s\n  allowed_origins: [https://Example.org:443/x]\n"
        "  form_version: '2026-06'\n  keep_ip: true\n  confirm_days: 3\n  previous_key_until: 2026-08-01\n"
        "  address_limit: 2\n  ip_limit: 50\n  trusted_proxy: 127.0.0.1\n  url_prefix: /newsletter/\n",
    )
    assert service.base_url == "https://news.example.org/s/" and service.allowed_origins == (
        "https://example.org",
    )
    assert service.previous_key_until == datetime(2026, 8, 1, tzinfo=UTC)
    assert (service.form_version, service.keep_ip, service.confirm_days) == ("2026-06", True, 3)
    assert (service.trusted_proxy, service.url_prefix) == ("127.0.0.1", "/newsletter")


def test_problems_are_reported_together_with_their_lines(tmp_path):
    first = (
        len(copy_sample_workspace(tmp_path / "lines").joinpath("newsletter.yaml").read_text().splitlines())
        + 1
    )
    with pytest.raises(ConfigError) as caught:
        parsed(
            tmp_path,
            "service:\n  base_url: ftp://x\n  confirm_days: 0\n  keep_ip: maybe\n  colour: blue\n"
            "  read_timeout: .inf\n",
        )
    message = caught.value.message
    assert "5 problems" in message
    for part in (
        f"newsletter.yaml:{first + 1}: service.base_url: expected",
        f"newsletter.yaml:{first + 2}: service.confirm_days: expected",
        f"newsletter.yaml:{first + 3}: service.keep_ip: expected",
        f"newsletter.yaml:{first + 4}: service.colour: unknown field",
        f"newsletter.yaml:{first + 5}: service.read_timeout: expected",
    ):
        assert part in message


def test_the_servers_limits_are_settings_that_reach_the_server_and_health(tmp_path):
    from flask import Flask

    from newsletter.web.service.server import make_server

    service = parsed(
        tmp_path, "service:\n  connections_per_client: 7\n  mail_wait_limit: 60\n  read_timeout: 9\n"
    )
    server = make_server(Flask(__name__), "127.0.0.1", 0, service)
    try:
        assert (server.per_client, server.adj.channel_timeout) == (7, 9)
    finally:
        server.close()
    assert (
        service.mail_wait_limit == 60
    )  # /health's limit: test_service_app.py::test_mail_stuck_past_the_limit...
    for bad in ("connections_per_client: 0", "mail_wait_limit: .nan", "mail_wait_limit: 100000"):
        with pytest.raises(ConfigError, match=bad.split(":")[0]):
            parsed(tmp_path / bad.split(":")[0] / str(len(bad)), f"service:\n  {bad}\n")

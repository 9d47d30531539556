"""The `service:` settings: defaults from the rest of newsletter.yaml, every problem reported at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sample_workspace import copy_sample_workspace

from newsletter.errors import ConfigError
from newsletter.store.config import load_settings
from newsletter.store.fileio import parse_yaml
from newsletter.web.service.settings import parse_service_settings


def parsed(tmp_path, text: str):
    root = copy_sample_workspace(tmp_path / "ws")
    doc = parse_yaml(text, root / "newsletter.yaml")
    return parse_service_settings(doc.data.get("service") if doc.data else None, load_settings(root), doc)


def test_without_a_service_block_the_defaults_follow_the_site(tmp_path):
    service = parsed(tmp_path, "name: x\n")
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
    with pytest.raises(ConfigError) as caught:
        parsed(
            tmp_path, "service:\n  base_url: ftp://x\n  confirm_days: 0\n  keep_ip: maybe\n  colour: blue\n"
        )
    message = caught.value.message
    assert "4 problems" in message
    for part in (
        "newsletter.yaml:2: service.base_url",
        "newsletter.yaml:3: service.confirm_days",
        "newsletter.yaml:4: service.keep_ip",
        "colour",
    ):
        assert part in message

"""Import stays on the public web: loopback, private and reserved hosts refused at every hop, and a deadline.

The refusals use the loopback address itself (a real HTTPS server on 127.0.0.1 that must never be
asked); the positive path reaches the same server only with `allow_private_hosts`.
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest
from loopback_site import (  # noqa: F401 - the `site` and `secure_site` fixtures
    FEEDS,
    SITE,
    LoopbackSite,
    secure_site_fixture,
    site_fixture,
)

from newsletter.importers.feedimport import import_feed
from newsletter.importers.fetch import (
    HTML_TYPES,
    FetchError,
    FetchPolicy,
    address_problem,
    fetch,
    host_problem,
)

PUBLIC_ONLY = "the importer fetches only public web addresses"
PAGE = b"<html><head><title>Inside</title></head><body><p>internal</p></body></html>"


def refusal(url: str, policy: FetchPolicy | None = None) -> str:
    with pytest.raises(FetchError) as caught:
        fetch(url, HTML_TYPES, policy)
    return caught.value.message


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # a cloud's metadata service
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_every_non_public_range_is_named(address: str, kind: str):
    assert f"{kind} address (" in (address_problem(ip_address(address)) or "")


def test_public_addresses_and_names_pass():
    assert address_problem(ip_address("93.184.215.14")) is None
    assert address_problem(ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")) is None
    assert host_problem("localhost") == "localhost is a loopback name"
    assert host_problem("msresearch.example.org", resolve=False) is None


def test_a_loopback_page_is_refused_before_any_request_and_fetched_when_allowed(secure_site: LoopbackSite):
    secure_site.serve("/admin", PAGE, "text/html")
    url = f"{secure_site.origin}/admin"
    message = refusal(url)
    assert message == (
        f"{url}: 127.0.0.1 is a loopback address (127.0.0.1); {PUBLIC_ONLY} "
        "(an intranet site: set import.allow_private_hosts: true in newsletter.yaml)"
    )
    port = secure_site.origin.rsplit(":", 1)[1]
    assert PUBLIC_ONLY in refusal(f"https://localhost:{port}/admin")
    assert PUBLIC_ONLY in refusal(f"https://[::1]:{port}/admin")
    assert secure_site.requests == []  # never asked

    fetched = fetch(url, HTML_TYPES, FetchPolicy(allow_private_hosts=True))
    assert fetched.body == PAGE and [path for path, _ in secure_site.requests] == ["/admin"]


def test_a_redirect_into_the_internal_network_is_refused_at_that_hop(site: LoopbackSite):
    for n, target in enumerate(
        ("https://localhost:8444/admin", "https://10.0.0.5/wiki", "https://169.254.169.254/latest/meta-data/")
    ):
        site.redirect(f"/research/moved-{n}", target)
        message = refusal(f"{SITE}/research/moved-{n}", site.policy)
        assert (
            message.startswith(f"{SITE}/research/moved-{n}: redirected to {target}: ")
            and PUBLIC_ONLY in message
        )
    assert [path for path, _ in site.requests] == [
        "/research/moved-0",
        "/research/moved-1",
        "/research/moved-2",
    ]


def test_feed_pages_on_loopback_are_refused_and_nothing_is_written(empty_workspace: Path, site: LoopbackSite):
    rss = (FEEDS / "rss.xml").read_text(encoding="utf-8")
    first = rss.index("<link>", rss.index("<item>"))
    hostile = (
        rss[:first] + "<link>https://127.0.0.1:8444/admin</link>" + rss[rss.index("</link>", first) + 7 :]
    )
    site.serve("/feed.xml", hostile, "application/rss+xml")
    with pytest.raises(Exception) as caught:
        import_feed(empty_workspace, f"{SITE}/feed.xml", pages=True, fetch_policy=site.policy)
    assert "127.0.0.1 is a loopback address" in str(caught.value)
    assert not list((empty_workspace / "summaries").glob("*.yaml"))
    assert all("admin" not in path for path, _ in site.requests)


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_server_trickling_bytes_is_cut_off_at_the_deadline(secure_site: LoopbackSite, in_headers: bool):
    """One byte every 0.2 s: every read is well within the read timeout, the whole would take minutes."""
    secure_site.trickle("/slow", total=2000, interval=0.2, in_headers=in_headers)
    policy = FetchPolicy(allow_private_hosts=True, timeout=5, deadline=1)
    message = refusal(f"{secure_site.origin}/slow", policy)
    assert message == f"{secure_site.origin}/slow: not finished within 1 s; stopped"
    assert secure_site.wait_sent("/slow") < 2000

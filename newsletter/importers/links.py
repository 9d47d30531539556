"""When two links name the same page of the site, whatever their spelling."""

from __future__ import annotations

from urllib.parse import urlsplit


def link_key(url: str) -> tuple[str, str, str]:
    """A link as compared: host in lowercase, no fragment, no trailing slash, any scheme."""
    parts = urlsplit(url.strip())
    return (parts.netloc.lower(), parts.path.rstrip("/") or "/", parts.query)


def same_link(a: str | None, b: str | None) -> bool:
    return bool(a and b) and link_key(a or "") == link_key(b or "")

"""Read one page to import, whatever it is: copied text, a saved .html file or an https URL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.errors import PageError
from newsletter.importers.fetch import HTML_TYPES, FetchError, FetchPolicy, fetch, link_problem
from newsletter.importers.html import read_html_page
from newsletter.importers.page import Page
from newsletter.importers.readers import read_page

HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def is_link(item: str | Path) -> bool:
    """Whether a command-line argument names a link (any scheme) rather than a file."""
    if isinstance(item, Path):
        return False
    # A one-letter scheme is a Windows drive (C:\\pages\\x.txt), not a link.
    return len(urlsplit(item).scheme) > 1


def read_source(item: str | Path, vocabulary: Iterable[str], policy: FetchPolicy | None = None) -> Page:
    """Read a page from a text file, an HTML file or an https URL (http and other links are refused)."""
    if is_link(item):
        return read_url(str(item), vocabulary, policy)
    path = Path(item)
    if path.suffix.lower() in HTML_SUFFIXES:
        return read_html_file(path, vocabulary)
    return read_page(path, vocabulary)


def read_html_file(path: Path, vocabulary: Iterable[str]) -> Page:
    """A page saved from a browser ("Save page as", HTML only)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PageError(f"{path}: file not found") from None
    except OSError as exc:
        raise PageError(f"{path}: cannot read ({exc.strerror})") from None
    return read_html_page(data, path.name, vocabulary)


def read_url(url: str, vocabulary: Iterable[str], policy: FetchPolicy | None = None) -> Page:
    """Fetch a page of the site and read it; the page's source is its URL."""
    problem = link_problem(url)
    if problem:
        raise PageError(f"{problem}: give an https URL, or save the page and import the file")
    try:
        fetched = fetch(url, HTML_TYPES, policy)
    except FetchError as exc:
        raise PageError(exc.message) from None
    return read_html_page(fetched.body, url, vocabulary, base_url=fetched.url, charset=fetched.charset)

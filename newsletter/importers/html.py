"""Turn a saved or fetched HTML page of the site into the text the layout readers take."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from newsletter.errors import PageError
from newsletter.importers.fetch import link_problem
from newsletter.importers.page import Page
from newsletter.importers.readers import read_page_text

# Elements a browser lays out as blocks: their text starts and ends a line, as a copy would.
BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
# Navigation, code, styles and controls: never part of a summary's text.
SKIP = frozenset(
    [
        "head",
        "nav",
        "footer",
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "svg",
        "canvas",
        "object",
        "form",
        "button",
        "select",
        "textarea",
        "dialog",
    ]
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class HtmlDocument:
    text: str  # the visible text, one line per block, as the layout readers take it
    title: str | None  # the <title>, without the site's name after " | "
    canonical: str | None  # <link rel="canonical">, resolved against the page's URL
    warnings: tuple[str, ...] = ()


def parse_html(
    data: bytes, source: str, base_url: str | None = None, charset: str | None = None
) -> HtmlDocument:
    """The visible text, title and canonical link of an HTML page; not HTML at all is a PageError."""
    try:
        if charset:
            root = lxml.html.document_fromstring(data, parser=lxml.html.HTMLParser(encoding=charset))
        else:
            root = lxml.html.document_fromstring(data)
    except (lxml.etree.ParserError, LookupError, ValueError) as exc:
        raise PageError(f"{source}: not a readable HTML page ({exc})") from None
    warnings: list[str] = []
    canonical = _canonical(root, base_url)
    if canonical is not None and link_problem(canonical):
        warnings.append(f"{source}: canonical link ignored: {link_problem(canonical)}")
        canonical = None
    return HtmlDocument(_text(root), _title(root), canonical, tuple(warnings))


def read_html_page(
    data: bytes,
    source: str,
    vocabulary: Iterable[str],
    base_url: str | None = None,
    charset: str | None = None,
) -> Page:
    """Read a page of either layout from its HTML; the <title> names a page whose text does not.

    The page's link is its canonical link, else the https URL it was fetched from.
    """
    doc = parse_html(data, source, base_url, charset)
    page = read_page_text(doc.text, source, vocabulary)
    return replace(
        page,
        title=page.title or doc.title,
        url=doc.canonical or base_url,
        warnings=page.warnings + doc.warnings,
    )


def _title(root: lxml.html.HtmlElement) -> str | None:
    found = root.find(".//title")
    if found is None:
        return None
    title = _SPACE.sub(" ", found.text_content()).strip()
    # "How Microglia Affect MS | MS Research Summaries": the site's name is not the summary's.
    title = title.rsplit(" | ", 1)[0].strip() if " | " in title else title
    return title or None


def _canonical(root: lxml.html.HtmlElement, base_url: str | None) -> str | None:
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rels and href:
            return urljoin(base_url, href) if base_url else href
    return None


def _text(root: lxml.html.HtmlElement) -> str:
    """The text as a browser's copy gives it: inline runs joined, blocks on lines of their own."""
    pieces: list[str] = []
    _walk(root, pieces)
    lines = (_SPACE.sub(" ", line).strip() for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


def _walk(element: lxml.html.HtmlElement, pieces: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""  # comments have a function as tag
    if tag and not _hidden(element, tag):
        block = tag in BLOCK
        if block:
            pieces.append("\n")
        if tag == "br":
            pieces.append("\n")
        pieces.append(_SPACE.sub(" ", element.text or ""))
        for child in element:
            _walk(child, pieces)
        if block:
            pieces.append("\n")
    pieces.append(_SPACE.sub(" ", element.tail or ""))


def _hidden(element: lxml.html.HtmlElement, tag: str) -> bool:
    style = (element.get("style") or "").replace(" ", "").lower()
    return (
        tag in SKIP
        or element.get("hidden") is not None
        or element.get("aria-hidden") == "true"
        or "display:none" in style
    )

"""Read a rendered email the way a client and a screen reader do: its links, images, text and head."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Elements whose text a reader never sees as content.
_NON_CONTENT = {"style", "script", "head", "title"}


@dataclass(frozen=True)
class Link:
    href: str
    name: str  # the accessible name: aria-label, else the text and image alts inside


@dataclass(frozen=True)
class Image:
    src: str
    alt: str | None  # None when the attribute is missing (a screen reader then reads the file name)


@dataclass(frozen=True)
class ScannedHtml:
    lang: str | None
    title: str
    links: tuple[Link, ...]
    images: tuple[Image, ...]
    text: str  # visible text, whitespace collapsed
    attribute_values: tuple[str, ...]
    stylesheets: tuple[str, ...]  # <link rel=stylesheet> hrefs
    styles: str  # every <style> block, joined


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.title: list[str] = []
        self.links: list[Link] = []
        self.images: list[Image] = []
        self.text: list[str] = []
        self.attribute_values: list[str] = []
        self.stylesheets: list[str] = []
        self.styles: list[str] = []
        self._skip: list[str] = []
        self._in_title = False
        self._in_style = False
        # The open <a>: its href, aria-label and the name parts gathered so far.
        self._link: tuple[str, str | None, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: (v or "") for k, v in attrs}
        self.attribute_values.extend(v for v in attr.values() if v)
        if tag == "html" and "lang" in attr:
            self.lang = attr["lang"]
        elif tag == "title":
            self._in_title = True
        elif tag == "style":
            self._in_style = True
        elif tag == "link" and "stylesheet" in attr.get("rel", "").lower():
            self.stylesheets.append(attr.get("href", ""))
        elif tag == "a":
            self._close_link()
            self._link = (attr.get("href", ""), attr.get("aria-label"), [])
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.images.append(Image(attr.get("src", ""), alt))
            if self._link is not None and alt:
                self._link[2].append(alt)
        if tag in _NON_CONTENT:
            self._skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "style":
            self._in_style = False
        elif tag == "a":
            self._close_link()
        if tag in _NON_CONTENT and tag in self._skip:
            while self._skip and self._skip.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        if self._in_style:
            self.styles.append(data)
        if self._skip:
            return
        self.text.append(data)
        if self._link is not None:
            self._link[2].append(data)

    def _close_link(self) -> None:
        if self._link is None:
            return
        href, label, parts = self._link
        name = collapse(label) if label and label.strip() else collapse(" ".join(parts))
        self.links.append(Link(href, name))
        self._link = None


def scan_html(html: str) -> ScannedHtml:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    scanner._close_link()
    return ScannedHtml(
        lang=scanner.lang,
        title=collapse("".join(scanner.title)),
        links=tuple(scanner.links),
        images=tuple(scanner.images),
        text=collapse(" ".join(scanner.text)),
        attribute_values=tuple(scanner.attribute_values),
        stylesheets=tuple(scanner.stylesheets),
        styles="\n".join(scanner.styles),
    )

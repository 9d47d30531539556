"""The newsletter's look from settings: the masthead logo and the editor's signature, validated.

logo:                       # optional: an image instead of the name in the masthead
  src: https://example.org/logo.png
  dark_src: https://example.org/logo-dark.png   # optional: shown in dark mode
  alt: MS Research Roundup  # what a screen reader says, and what shows while images are off
  width: 220                # CSS pixels as displayed (give a 2x image for sharp screens)
  height: 44
signature: Maya Chen, editor   # optional: who signs the editor's note (default "The editors")
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.store import validate as v

MAX_LOGO_WIDTH = 600  # the email's width
MAX_LOGO_HEIGHT = 200


@dataclass(frozen=True)
class Logo:
    """The masthead's image (`logo:`)."""

    src: str
    alt: str
    width: int
    height: int
    dark_src: str | None = None


def _size(data: dict, key: str, largest: int, p: v.Problems) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= largest:
        p.add(("logo", key), f"required: the displayed {key} in pixels, a whole number from 1 to {largest}")
        return 1
    return value


def parse_logo(data: object, p: v.Problems) -> Logo | None:
    """The `logo:` mapping, or None when it is absent; problems are added to `p`."""
    if data is None:
        return None
    if not isinstance(data, dict):
        p.add(("logo",), "expected a mapping with src, alt, width, height and optionally dark_src")
        return None
    v.unknown_keys(p, data, {"src", "dark_src", "alt", "width", "height"}, ("logo",))
    src, dark_src, alt = data.get("src"), data.get("dark_src"), data.get("alt")
    if not v.https_url(src):
        p.add(("logo", "src"), "required: the image's absolute https URL (mail clients load it from there)")
    if dark_src is not None and not v.https_url(dark_src):
        p.add(("logo", "dark_src"), "expected the dark-mode image's absolute https URL")
    if not v.text(alt) or not v.single_line(alt):
        p.add(("logo", "alt"), "required: the image's text for screen readers, on one line (e.g. the name)")
    width = _size(data, "width", MAX_LOGO_WIDTH, p)
    height = _size(data, "height", MAX_LOGO_HEIGHT, p)
    return Logo(str(src or ""), str(alt or "").strip(), width, height, str(dark_src) if dark_src else None)


def parse_signature(data: object, p: v.Problems) -> str:
    """The `signature:` line, or "" when it is absent."""
    if data is None:
        return ""
    if not v.text(data) or not v.single_line(data.strip()):
        p.add(("signature",), "expected who signs the editor's note, on one line, e.g. Maya Chen, editor")
        return ""
    return data.strip()

"""The newsletter's look from settings: the masthead logo (the keys are checked by store/schema.py).

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

"""The web pages from templates: templates/pages/<name> in the workspace first, then the packaged one.

The loader is the email templates' (`render.environment`), so a page override may also begin with
`{% extends "default:pages/<name>" %}` and replace one block. HTML pages are autoescaped.
"""

from __future__ import annotations

from pathlib import Path

from newsletter import render

PAGES = "pages"


def render_page(workspace: Path, name: str, **context: object) -> str:
    """The page `pages/<name>` rendered with `context`; a broken template raises RenderError, one line."""
    return render.render_template(workspace, f"{PAGES}/{name}", context)

"""The web pages from templates: templates/pages/<name> in the workspace first, then the packaged one.

The loader is the email templates' (`render.environment`), so a page override may also begin with
`{% extends "default:pages/<name>" %}` and replace one block. HTML pages are autoescaped.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from newsletter import render
from newsletter.errors import RenderError

PAGES = "pages"


def render_page(workspace: Path, name: str, **context: object) -> str:
    """The page `pages/<name>` rendered with `context`; a broken template raises RenderError, one line."""
    template = f"{PAGES}/{name}"
    try:
        return render.environment(workspace).get_template(template).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or template}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template {exc.name} not found in {render.WORKSPACE_TEMPLATES}/ or the package"
        ) from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {template}: {exc.message}; check the variable names") from None

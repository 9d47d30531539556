"""The templates: the workspace's overrides before the packaged ones, rendering with one-line errors,
and MJML compiled to email HTML with its CSS inlined."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from pathlib import Path

import jinja2
import mjml
import premailer

from newsletter.errors import RenderError
from newsletter.render.plaintext import paragraphs, underline, wrap

PACKAGED_TEMPLATES = Path(__file__).parent.parent / "templates"
WORKSPACE_TEMPLATES = "templates"

# cssutils (inside premailer) logs every CSS property it does not know, such as mso-* ones.
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
logging.getLogger("cssutils").setLevel(logging.CRITICAL)

__all__ = ["PACKAGED_TEMPLATES", "WORKSPACE_TEMPLATES", "compile_mjml", "environment", "render_template"]


@functools.lru_cache(maxsize=16)
def environment(workspace: Path) -> jinja2.Environment:
    """Templates from the workspace's templates/ first, then the packaged ones, file by file.

    An override may extend the packaged template it replaces and change one block:
    `{% extends "default:email.mjml" %}` (the `default:` prefix always names the packaged file).
    """
    overrides = workspace / WORKSPACE_TEMPLATES
    packaged = jinja2.FileSystemLoader(PACKAGED_TEMPLATES)

    def packaged_until_overridden(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        # Jinja keeps a loaded template while its own file is unchanged; a packaged one must also be
        # dropped once the workspace gains an override of it, or a running preview would not see it.
        try:
            source, filename, unchanged = packaged.get_source(env, name)
        except jinja2.TemplateNotFound:
            return None
        return source, filename, lambda: unchanged() and not (overrides / name).is_file()

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(overrides),
                jinja2.FunctionLoader(packaged_until_overridden),
                jinja2.PrefixLoader({"default": packaged}, delimiter=":"),
            ]
        ),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["mjml", "html", "xml"], default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(wrap=wrap, underline=underline, paragraphs=paragraphs)
    return env


def render_template(workspace: Path, name: str, context: dict) -> str:
    """Render one template (workspace override first); any failure is one RenderError line."""
    try:
        return environment(workspace).get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or name}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} not found in {WORKSPACE_TEMPLATES}/ or the package") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{_where(exc, name)}: {exc.message}; check the variable names") from None
    except UnicodeDecodeError:
        raise RenderError(f"template {name}: not UTF-8 text; save it as UTF-8") from None
    except RecursionError:
        raise RenderError(f"{_where(None, name)}: the template calls itself without end") from None
    except Exception as exc:  # noqa: BLE001 - a template is code: any runtime error is the template's
        raise RenderError(f"{_where(exc, name)}: template error: {type(exc).__name__}: {exc}") from None


def _where(exc: BaseException | None, name: str) -> str:
    """`file:line` of the template line that failed: Jinja puts template frames in the traceback."""
    frame_tb = exc.__traceback__ if exc is not None else None
    where = f"template {name}"
    while frame_tb is not None:
        filename = frame_tb.tb_frame.f_code.co_filename
        if filename.endswith((".mjml", ".txt", ".html", ".xml")):
            where = f"{filename}:{frame_tb.tb_lineno}"
        frame_tb = frame_tb.tb_next
    return where


def compile_mjml(source: str) -> str:
    """MJML to email HTML with the CSS inlined; never touches the network."""
    try:
        # fonts={} keeps MRML from adding a Google Fonts <link> and @import.
        html = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(f"the MJML template did not compile: {exc}") from None
    if re.search(r"<link\b|@import", html, re.IGNORECASE):
        # premailer would try to fetch them, even with allow_network=False.
        raise RenderError("the email template pulls in an external stylesheet (<link> or @import); inline it")
    inlined = premailer.Premailer(
        html,
        allow_network=False,
        strip_important=False,  # MJML's mobile rules and the dark-mode rules need !important
        keep_style_tags=True,  # @media rules cannot be inlined; they stay in <style>
        # MJML's "img { height: auto }" would overwrite an image's height="44" with "auto", which
        # Outlook for Windows does not understand: it would show the logo at its file's size.
        disable_basic_attributes=["height"],
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    # premailer drops the doctype; without it clients render in quirks mode.
    return "<!DOCTYPE html>\n" + inlined.removeprefix("<!DOCTYPE html>").lstrip()

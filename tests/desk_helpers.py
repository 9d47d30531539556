"""A desk over a workspace copy, driven through Flask's test client as a browser would: each change
is a POST of the form on the page just loaded (its CSRF token and the file's version)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

from newsletter.importers.fetch import FetchPolicy
from newsletter.web.desk import create_app
from newsletter.web.desk.context import Access

ISSUE = "2026-06"
NOW = datetime(2026, 5, 30, 12, 0, tzinfo=UTC)


class Desk:
    def __init__(
        self,
        workspace: Path,
        access: Access | None = None,
        provider: str | None = None,
        fetch_policy: FetchPolicy | None = None,
    ):
        self.workspace = workspace
        self.app = create_app(
            workspace,
            access=access or Access(local_user="ana"),
            clock=lambda: NOW,
            provider=provider,
            fetch_policy=fetch_policy,
        )
        self.client = self.app.test_client()
        self.page = ""

    def get(self, url: str, **kw):
        response = self.client.get(url, headers={"Host": "127.0.0.1:8027", **kw.pop("headers", {})}, **kw)
        self.page = response.get_data(as_text=True)
        return response

    def field(self, name: str) -> str:
        found = re.search(rf'name="{name}" value="([^"]*)"', self.page)
        assert found, f"no {name} field on the page"
        return found.group(1)

    def textarea(self, element_id: str) -> str:
        found = re.search(rf'<textarea id="{element_id}"[^>]*>([^<]*)</textarea>', self.page)
        assert found, f"no textarea {element_id} on the page"
        return html.unescape(found.group(1))

    def post(self, url: str, data: dict, follow: bool = True, **kw):
        back = re.search(r'name="back" value="([^"]*)"', self.page)
        form = {"csrf": self.field("csrf"), **data}
        if 'name="version"' in self.page:
            form.setdefault("version", self.field("version"))
        if back and "back" not in form:
            form["back"] = back.group(1)
        response = self.client.post(
            url, data=form, headers={"Host": "127.0.0.1:8027", **kw.pop("headers", {})}, **kw
        )
        if follow and response.status_code == 303:
            return self.get(response.headers["Location"])
        self.page = response.get_data(as_text=True)
        return response

    def messages(self) -> list[str]:
        return re.findall(r'<p class="message[^"]*">([^<]*)</p>', self.page)

    def text(self, relative: str) -> str:
        return (self.workspace / relative).read_text(encoding="utf-8")

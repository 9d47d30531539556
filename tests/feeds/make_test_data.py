"""Regenerate the test site: HTML renderings of the five seed pages in both layouts, and their feeds.

Run from the repository root after changing a seed page or a sample summary, then review the diff:

    .venv/bin/python tests/feeds/make_test_data.py

Inputs: the seed pages (tests/pages/*.txt), what was read from them by hand (tests/pages/expected/)
and the sample workspace's finished summaries (summaries/*.yaml: titles, links, dates, topics).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, time
from email.utils import format_datetime
from html import escape
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

HERE = Path(__file__).parent
REPO = HERE.parent.parent
PAGES = REPO / "tests" / "pages"
SITE = "https://msresearch.example.org"
SITE_NAME = "MS Research Summaries"
TZ = ZoneInfo("America/New_York")
PARTS = (
    ("takeaway", "Key Takeaway"),
    ("found", "What They Found"),
    ("who_should_care", "Who Should Care and Why"),
    ("considerations", "Important Considerations"),
)
_GLUE = re.compile(r"(?<=[.!?])(?=[A-Z“‘(])")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def summaries() -> dict[str, dict]:
    return {p.stem: load(p) for p in sorted((REPO / "summaries").glob("*.yaml"))}


def seed_pages() -> list[dict]:
    """Each seed page with what was read from it, its summary and its raw text."""
    store = summaries()
    out = []
    for text_path in sorted(PAGES.glob("*.txt")):
        number = text_path.name[:3]
        own = next(
            s | {"id": i} for i, s in store.items() if s.get("found") and text_path.name in s["sources"]
        )
        out.append(
            {
                "number": number,
                "file": text_path.name,
                "read": load(PAGES / "expected" / f"{number}.yaml"),
                "summary": own,
                "raw": text_path.read_text(encoding="utf-8"),
            }
        )
    return out


def teaser_title(store: dict[str, dict], published: str, blurb: str) -> str:
    for s in store.values():
        if s.get("teaser") == blurb and str(s["published"]) == published:
            return s["title"]
    raise SystemExit(f"no sample summary has the teaser {blurb!r}")


def boilerplate(raw: str) -> list[str]:
    start = raw.index("Whether you")
    return [line.strip() for line in raw[start:].splitlines() if line.strip()]


def raw_parts(raw: str) -> list[str]:
    """The text lines of a layout-B page as the site glues them (no space between sentences)."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    return lines[:4]


def glued(text: str) -> str:
    """One sentence a <span>, with no space between: why a copied layout-B page reads `studies.These`."""
    return "".join(f"<span>{escape(s)}</span>" for s in _GLUE.split(text))


def chrome(title: str, url: str, description: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(title)} | {SITE_NAME}</title>
  <link rel="canonical" href="{escape(url)}">
  <meta name="description" content="{escape(description)}">
  <meta property="og:title" content="{escape(title)}">
  <link rel="alternate" type="application/rss+xml" title="{SITE_NAME}" href="/feed.xml">
  <style>body {{ font-family: system-ui, sans-serif; }} .card {{ display: flex; }}</style>
  <script>window.dataLayer = window.dataLayer || []; function gtag() {{ dataLayer.push(arguments); }}</script>
</head>
<body>
  <header class="site-header">
    <a class="logo" href="/"><img src="/logo.svg" alt="{SITE_NAME}"></a>
    <nav aria-label="Main">
      <ul><li><a href="/">Home</a></li><li><a href="/research">Research</a></li>
      <li><a href="/topics">Topics</a></li><li><a href="/about">About</a></li></ul>
    </nav>
  </header>
  <div class="cookie-banner" hidden>We use cookies to see how the site is used. <button>OK</button></div>
  <main>
{body}
  </main>
  <footer>
    <p>© 2026 {SITE_NAME}. Not medical advice.</p>
    <ul><li><a href="/privacy">Privacy</a></li><li><a href="/newsletter">Newsletter</a></li></ul>
  </footer>
  <script src="/assets/site.js" defer></script>
  <noscript>Turn on JavaScript to rate summaries.</noscript>
</body>
</html>
"""


def layout_a(page: dict, store: dict[str, dict]) -> str:
    s, read = page["summary"], page["read"]
    sections = "\n".join(
        f"      <h2>{heading}</h2>\n      <p>{escape(read[name])}</p>"
        for name, heading in PARTS
        if read[name]
    )
    tags = "".join(f'<a class="tag" href="/topics/{escape(t)}">{escape(t)}</a>' for t in s["topics"])
    cards = "\n".join(
        f"""      <div class="card">
        <a href="/research/x"><h3>{escape(teaser_title(store, str(r["published"]), r["teaser"]))}</h3></a>
        <p class="card-hover">{escape(teaser_title(store, str(r["published"]), r["teaser"]))}</p>
        <p><time datetime="{r["published"]}">{site_date(str(r["published"]))}</time></p>
        <p>{escape(r["teaser"])}</p>
        <p><a class="button" href="/research/x">Read More</a></p>
      </div>"""
        for r in read["related"]
    )
    body = f"""    <article>
      <h1>{escape(s["title"])}</h1>
      <p class="subtitle">{escape(s["title"])}</p>
      <div class="ratings">
        <div class="rating">Credibility<svg aria-hidden="true"><text>★★★★☆</text></svg></div>
        <div class="rating">Interest<svg aria-hidden="true"><text>★★★☆☆</text></svg></div>
      </div>
{sections}
      <h2>Article Topics:</h2>
      <div class="tags">{tags}</div>
    </article>
    <section class="related">
      <h2>You May Also Like</h2>
{cards}
    </section>
{about(page, heading=True)}"""
    return chrome(s["title"], s["url"], s["takeaway"], body)


def layout_b(page: dict) -> str:
    s, read = page["summary"], page["read"]
    # A seed copied from layout B keeps its glued sentences; a layout-A seed's text is already spaced.
    texts = raw_parts(page["raw"]) if read["layout"] == "B" else [read[name] for name, _ in PARTS]
    parts = "\n".join(f'      <div class="part">{glued(t)}</div>' for t in texts)
    notice = next(
        (line for line in page["raw"].splitlines() if line.startswith("AI-generated summary")), None
    )
    notice_html = f'\n      <p class="notice">{escape(notice)}</p>' if notice else ""
    cards = "\n".join(
        f"""      <a class="card" href="/research/x">
        <div class="date">{site_date(str(r["published"]))}</div>
        <div class="blurb">{escape(r["teaser"])}</div>
        <div class="button">Read More</div>
      </a>"""
        for r in read["related"]
    )
    body = f"""    <article class="summary">
{parts}{notice_html}
    </article>
    <section class="related">
{cards}
    </section>
{about(page, heading=False)}"""
    return chrome(s["title"], s["url"], s["takeaway"], body)


def about(page: dict, heading: bool) -> str:
    paragraphs = "\n".join(f"      <p>{escape(p)}</p>" for p in boilerplate(page["raw"]))
    title = "      <h2>Understanding MS Research</h2>\n" if heading else ""
    return f'    <section class="about">\n{title}{paragraphs}\n    </section>'


def site_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{int(month)}/{int(day)}/{year}"


def published_at(s: dict) -> datetime:
    """The site publishes at 9:00 in New York on the summary's date."""
    return datetime.combine(s["published"], time(9), TZ)


def rss(pages: list[dict]) -> str:
    items = "\n".join(
        f"""    <item>
      <title>{escape(s["title"])}</title>
      <link>{escape(s["url"])}</link>
      <guid isPermaLink="true">{escape(s["url"])}</guid>
      <pubDate>{format_datetime(published_at(s))}</pubDate>
{"".join(f"      <category>{escape(t)}</category>{chr(10)}" for t in s["topics"])}\
      <description>{escape(f"<p>{escape(s['takeaway'])}</p>")}</description>
    </item>"""
        for s in newest_first(pages)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{SITE_NAME}</title>
    <link>{SITE}/</link>
    <description>Plain-language summaries of multiple sclerosis research</description>
    <language>en-us</language>
    <atom:link href="{SITE}/feed.xml" rel="self" type="application/rss+xml"/>
    <lastBuildDate>{format_datetime(published_at(newest_first(pages)[0]))}</lastBuildDate>
{items}
  </channel>
</rss>
"""


def atom(pages: list[dict]) -> str:
    entries = "\n".join(
        f"""  <entry>
    <title>{escape(s["title"])}</title>
    <link rel="alternate" type="text/html" href="{escape(s["url"])}"/>
    <id>tag:msresearch.example.org,2026:{urlsplit(s["url"]).path}</id>
    <published>{published_at(s).isoformat()}</published>
    <updated>{published_at(s).isoformat()}</updated>
{"".join(f'    <category term="{escape(t)}"/>{chr(10)}' for t in s["topics"])}\
    <summary type="text">{escape(s["takeaway"])}</summary>
  </entry>"""
        for s in newest_first(pages)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{SITE_NAME}</title>
  <link rel="alternate" href="{SITE}/"/>
  <link rel="self" href="{SITE}/atom.xml"/>
  <id>{SITE}/</id>
  <updated>{published_at(newest_first(pages)[0]).isoformat()}</updated>
  <author><name>{SITE_NAME}</name></author>
{entries}
</feed>
"""


def json_feed(pages: list[dict]) -> str:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": SITE_NAME,
        "home_page_url": f"{SITE}/",
        "feed_url": f"{SITE}/feed.json",
        "language": "en-US",
        "items": [
            {
                "id": s["url"],
                "url": s["url"],
                "title": s["title"],
                "summary": s["takeaway"],
                "content_text": s["takeaway"],
                "date_published": published_at(s).isoformat(),
                "tags": s["topics"],
            }
            for s in newest_first(pages)
        ],
    }
    return json.dumps(feed, indent=2, ensure_ascii=False) + "\n"


def newest_first(pages: list[dict]) -> list[dict]:
    return sorted((p["summary"] for p in pages), key=lambda s: s["published"], reverse=True)


def main() -> None:
    store = summaries()
    pages = seed_pages()
    manifest = []
    for page in pages:
        slug = urlsplit(page["summary"]["url"]).path.rsplit("/", 1)[-1]
        for layout, html in (("A", layout_a(page, store)), ("B", layout_b(page))):
            target = HERE / "html" / layout / f"{slug}.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        manifest.append(
            {
                "seed": page["file"],
                "summary": page["summary"]["id"],
                "path": urlsplit(page["summary"]["url"]).path,
                "file": f"{slug}.html",
                "site_layout": page["read"]["layout"],
            }
        )
    (HERE / "pages.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (HERE / "rss.xml").write_text(rss(pages), encoding="utf-8")
    (HERE / "atom.xml").write_text(atom(pages), encoding="utf-8")
    (HERE / "feed.json").write_text(json_feed(pages), encoding="utf-8")


if __name__ == "__main__":
    main()

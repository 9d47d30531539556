"""The rendered issue, checked against DESIGN.md's "What a good newsletter email is, checkably".

Golden files: tests/golden/ holds the sample issue's HTML and text. After a deliberate change to
the templates or the sample issue, regenerate them and review the diff:

    NEWSLETTER_REGEN_GOLDEN=1 /tmp/venv/bin/python -m pytest tests/test_render.py -k golden
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import replace
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sample_workspace import SAMPLE_ISSUE, copy_sample_workspace

from newsletter import render
from newsletter.compose.reader import Variant, edition_for
from newsletter.errors import ConfigError, ContentError
from newsletter.mail.mime import encoded_size
from newsletter.render import personal, reader_text
from newsletter.store import content, issues
from newsletter.store.branding import Logo
from newsletter.store.config import load_settings
from newsletter.store.models import Issue, Section, Summary
from newsletter.store.topics import load_taxonomy

GOLDEN = Path(__file__).parent / "golden"
HOSTILE_TITLE = "<script>alert('x')</script> Tom & Jerry's \"B cells\" 🧠 " + "A" * 300


class Page(HTMLParser):
    """What the checks need of an HTML document, read by the standard library's HTML parser."""

    VOID = {"meta", "link", "img", "br", "hr", "input", "source", "col", "area", "base", "wbr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.start: list[tuple[str, dict[str, str]]] = []
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.texts: list[tuple[str, list[tuple[str, dict[str, str]]]]] = []  # (text, ancestors)
        self.links: list[tuple[dict[str, str], str]] = []  # (attributes, visible text)
        self._link: list | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.start.append((tag, attributes))
        if tag == "a" and "href" in attributes:  # an <a name> alone is a target, not a link
            self._link = [attributes, ""]
        if tag not in self.VOID:
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        if tag == "a" and self._link is not None:
            self.links.append((self._link[0], self._link[1].strip()))
            self._link = None
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if data.strip():
            self.texts.append((data.strip(), list(self.stack)))
        if self._link is not None:
            self._link[1] += data

    def tags(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.start if tag == name]

    def text(self) -> str:
        return " ".join(" ".join(t.split()) for t, _ in self.texts)


def font_size(ancestors) -> tuple[int | None, bool]:
    """The nearest inline font-size (px) and whether an ancestor hides the text."""
    hidden = any("display:none" in a.get("style", "").replace(" ", "") for _, a in ancestors)
    for _, attrs in reversed(ancestors):
        match = re.search(r"font-size:\s*(\d+)px", attrs.get("style", ""))
        if match:
            return int(match.group(1)), hidden
    return None, hidden


def full(sid: str, published: date, topics=("Microglia",), **fields) -> Summary:
    return Summary(
        id=sid,
        title=fields.pop("title", f"Study {sid}"),
        url=f"https://msresearch.example.org/research/{sid}",
        published=published,
        journal="Science immunology",
        takeaway=fields.pop("takeaway", "Microglia can calm or fuel inflammation in MS."),
        topics=tuple(topics),
        found="They found it.",
        who_should_care="People with MS should care.If so, more.",
        **fields,
    )


@pytest.fixture
def settings(empty_workspace: Path):
    return load_settings(empty_workspace)


def issue_of(summaries: list[Summary], sections: int = 1) -> Issue:
    ids = [s.id for s in summaries]
    size = -(-len(ids) // sections)
    return Issue(
        id="2026-06",
        title="MS Research Roundup, June 2026",
        subject="Microglia & more",
        preheader="New studies in plain language",
        since=date(2026, 5, 1),
        until=date(2026, 5, 31),
        intro="A note from the editor.\n\nA second paragraph.",
        sections=tuple(
            Section(f"Section {n + 1}", tuple(ids[n * size : (n + 1) * size])) for n in range(sections)
        ),
    )


SAME_THIRTY = [
    full(f"s{n:02d}", date(2026, 5, 1) + timedelta(days=n % 28), takeaway="Takeaway sentence. " * 4)
    for n in range(30)
]
THIRTY = {s.id: s for s in SAME_THIRTY}


def thirty(settings) -> render.RenderedIssue:
    return render.render_issue(settings, issue_of(SAME_THIRTY, sections=6), THIRTY)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample workspace: loading it may write beside it, never in the repository."""
    return copy_sample_workspace(tmp_path_factory.mktemp("sample") / "ws")


def sample(root: Path):
    settings = load_settings(root)
    issue, summaries = issues.load_issue_content(root, SAMPLE_ISSUE)
    return settings, issue, summaries, render.render_issue(settings, issue, summaries)


def test_the_sample_issue_meets_the_checkable_list(sample_root: Path):
    settings, issue, summaries, rendered = sample(sample_root)
    html = rendered.html
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert len(html.encode()) < 102 * 1024
    assert page.tags("html")[0]["lang"] == "en"
    assert [t for t, _ in page.texts if any(tag == "title" for tag, _ in _)] == [issue.title]
    assert page.tags("table") and all(t.get("role") == "presentation" for t in page.tags("table"))
    assert all(img.get("alt") is not None for img in page.tags("img"))
    assert not page.tags("link") and "@import" not in html
    assert "{{" not in html and "{%" not in html
    metas = {m.get("name"): m.get("content") for m in page.tags("meta")}
    assert metas["color-scheme"] == "light dark"
    assert re.search(r"@media \(prefers-color-scheme: dark\)[^<]*!important", html)
    for text, ancestors in page.texts:
        size, hidden = font_size(ancestors)
        if not hidden and not any(tag in ("title", "style") for tag, _ in ancestors):
            assert size is not None and size >= 14, (text, size)
    # Each summary: its title linked, its takeaway shown, and no other link to it (a second link,
    # "Read the full summary" five times over, said nothing a screen reader could tell apart).
    titled = [a["href"] for a, t in page.links if t in {summaries[i].title for i in issue.summary_ids}]
    assert titled == [summaries[i].url for i in issue.summary_ids]
    to_summaries = [a["href"] for a, _ in page.links if a["href"] in {s.url for s in summaries.values()}]
    assert to_summaries == titled
    visible = page.text()
    for sid in issue.summary_ids:
        assert " ".join(render.card(summaries[sid]).takeaway.split()) in visible
    # Contents links lead to <a name> targets (the only kind Gmail web, Outlook and Yahoo follow).
    anchors = [a["href"][1:] for a, _ in page.links if a["href"].startswith("#")]
    assert anchors == [a["name"] for a in page.tags("a") if "name" in a]
    assert anchors == ["section-1", "section-2", "in-brief"]  # sections of full summaries, then teasers
    # Footer: caution, postal address, view in browser, preferences and unsubscribe.
    assert render.CAUTION in visible and settings.postal_address in visible
    footer_links = {t: a["href"] for a, t in page.links}
    assert footer_links["View in browser"] == "https://msresearch.example.org/newsletter/archive/2026-06/"
    assert footer_links["Manage preferences"] == "__NL_PREFERENCES_URL__"
    assert footer_links["Unsubscribe"] == "__NL_UNSUBSCRIBE_URL__"
    assert rendered.summary_ids == issue.summary_ids
    assert rendered.sections == tuple(s.title for s in issue.sections)


def test_the_sample_text_mirrors_the_html_for_people(sample_root: Path):
    _, issue, summaries, rendered = sample(sample_root)
    text = rendered.text
    for line in text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r"https://\S+", line), line
    assert not re.search(r"<[a-zA-Z/][^>]*>|&(#\d+|[a-z]+);", text)
    positions = [text.index(summaries[sid].url + "\n") for sid in issue.summary_ids]
    assert positions == sorted(positions)  # same summaries, same order as the HTML
    titles = [text.index(f"\n{summaries[sid].title}\n") for sid in issue.summary_ids]
    assert titles == sorted(titles) and titles[0] < positions[0]
    assert f"{issue.sections[0].title.upper()}\n{'=' * len(issue.sections[0].title)}\n" in text
    assert text.rstrip().endswith("Unsubscribe:\n__NL_UNSUBSCRIBE_URL__")
    assert render.wrap(render.CAUTION) in text
    assert "MS Research Roundup, 100 Example Street" in text


@pytest.mark.parametrize("name", ["email.html", "email.txt"])
def test_golden_sample_issue(name: str, sample_root: Path):
    *_, rendered = sample(sample_root)
    produced = rendered.html if name == "email.html" else rendered.text
    path = GOLDEN / f"2026-06.{name}"
    if os.environ.get("NEWSLETTER_REGEN_GOLDEN") == "1":
        path.write_text(produced, encoding="utf-8")
    assert produced == path.read_text(encoding="utf-8"), (
        f"{path.name} changed; if on purpose, regenerate (see this module's docstring) and review the diff"
    )


def test_thirty_summaries_stay_under_gmails_clipping_size(settings):
    rendered = thirty(settings)
    assert len(rendered.summary_ids) == 30
    # Gmail clips at 102 KB of the HTML part as transmitted (quoted-printable), not as decoded.
    assert len(rendered.html.encode()) < encoded_size(rendered.html) < 102 * 1024
    large = render.render_issue(
        settings, rendered_issue := issue_of(SAME_THIRTY, 6), THIRTY, Variant(large_text=True)
    )
    assert encoded_size(large.html) < 102 * 1024 and rendered_issue.id == large.issue_id


def test_hostile_content_is_escaped_in_html_and_sane_in_text(settings):
    bad = full(
        "hostile",
        date(2026, 5, 2),
        title=HOSTILE_TITLE,
        takeaway='Use <b>bold</b> & "quotes" — naïve café {{ x }}',
        topics=("<i>Microglia</i>",),
    )
    rendered = render.render_issue(settings, issue_of([bad]), {bad.id: bad})
    page = Page(rendered.html)
    assert not page.tags("script") and not page.tags("b") and not page.tags("i")
    assert HOSTILE_TITLE in page.text()
    assert 'Use <b>bold</b> & "quotes" — naïve café {{ x }}' in page.text()
    assert [t for a, t in page.links if a["href"] == bad.url] == [HOSTILE_TITLE]
    # The long word may break anywhere rather than widen the layout.
    assert "overflow-wrap:anywhere" in rendered.html.replace(" ", "")
    text = rendered.text
    assert "<script>alert('x')</script> Tom & Jerry's \"B cells\" 🧠" in text
    assert "&amp;" not in text and "&lt;" not in text
    assert all(len(line) <= 78 or line.startswith("https://") for line in text.splitlines())


def test_the_tokens_survive_mjml_and_premailer_and_personalise_cleanly(settings):
    s = full("one", date(2026, 5, 2))
    rendered = render.render_issue(settings, issue_of([s]), {s.id: s})
    for token in ("__NL_SALUTATION__", "__NL_UNSUBSCRIBE_URL__", "__NL_PREFERENCES_URL__"):
        assert token in rendered.html and token in rendered.text
    reader = personal.Recipient(
        email="zoë@example.org",
        name='Zoë "Z" <O\'Neil>',
        unsubscribe_url="https://msresearch.example.org/newsletter/unsubscribe?token=a&b=c",
        preferences_url="https://msresearch.example.org/newsletter/preferences?token=p",
    )
    page = Page(personal.personalize_html(rendered.html, reader))
    hrefs = {t: a["href"] for a, t in page.links}
    assert hrefs["Unsubscribe"] == reader.unsubscribe_url
    assert hrefs["Manage preferences"] == reader.preferences_url
    assert "Hi Zoë," in page.text()  # the given name, without the quoted nickname or the brackets
    text = personal.personalize_text(rendered.text, reader)
    assert "\nHi Zoë,\n" in text and f"\n{reader.unsubscribe_url}\n" in text


def test_teasers_are_trimmed_at_a_word_boundary():
    assert (
        render.trim_teaser("gut bacteria can worsen MS and daily li")
        == "gut bacteria can worsen MS and daily…"
    )
    assert render.trim_teaser("A whole sentence.") == "A whole sentence."
    assert render.trim_teaser("cut after a comma, li") == "cut after a comma…"


def test_an_edition_renders_only_its_summaries_and_sections(settings):
    store = [full(f"s{n}", date(2026, 5, 1 + n)) for n in range(4)]
    issue = issue_of(store, sections=2)
    rendered = render.render_issue(settings, issue, {s.id: s for s in store}, Variant(("s0", "s3")))
    assert rendered.sections == ("Section 1", "Section 2")
    assert rendered.summary_ids == ("s0", "s3")
    assert "Study s1" not in rendered.html and "Study s2" not in rendered.text


def test_a_workspace_template_overrides_the_packaged_one_file_by_file(settings, empty_workspace: Path):
    (empty_workspace / "templates").mkdir()
    (empty_workspace / "templates" / "email.txt").write_text("Only {{ issue.title }}\n")
    s = full("one", date(2026, 5, 2))
    rendered = render.render_issue(settings, issue_of([s]), {s.id: s})
    assert rendered.text == "Only MS Research Roundup, June 2026\n"
    assert "Study one" in rendered.html  # the packaged MJML template still applies


def test_a_broken_workspace_template_is_one_clear_error(settings, empty_workspace: Path):
    (empty_workspace / "templates").mkdir()
    (empty_workspace / "templates" / "email.txt").write_text("{{ issue.title }\n")
    s = full("one", date(2026, 5, 2))
    with pytest.raises(render.RenderError, match=r"email\.txt:1: template error"):
        render.render_issue(settings, issue_of([s]), {s.id: s})


def test_building_never_touches_the_network(settings, empty_workspace: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for s in [
        full("one", date(2026, 5, 2)),
        replace(full("two", date(2026, 5, 3)), needs_review=True),
    ]:
        content.write_summary(empty_workspace, s)
    (empty_workspace / "issues" / "2026-06.yaml").write_text(
        "title: June\nsubject: Hello\npreheader: Hi\nwindow: {since: 2026-05-01, until: 2026-05-31}\n"
        "intro: Hello.\nsections:\n  - title: Immune cells\n    items: [one, two]\n"
    )
    result = render.build_issue(settings, "2026-06")
    assert [p.name for p, _ in result.files] == ["email.html", "email.txt", "web.html"]
    assert result.warnings == ("two: marked needs_review by the importer",)
    web = Page((result.out_dir / "web.html").read_text())
    assert "__NL_" not in (result.out_dir / "web.html").read_text()
    # The built email is a proof for a reader without a name: no raw tokens for the editor to see.
    for name in ("email.html", "email.txt"):
        built = (result.out_dir / name).read_text()
        assert "__NL_" not in built and "Hi there," in built
        assert "https://msresearch.example.org/newsletter/unsubscribe?token=proof" in built
    assert [t for a, t in web.links if a["href"].startswith("https://msresearch.example.org/research/")] == [
        "Study one",
        "Study two",
    ]


FILTERED = ("Gut and microbiome", "Optic neuritis")  # a section and a tag: 2 of the sample's 9


def sample_edition(root: Path, topics: tuple[str, ...], large_text: bool = False) -> Variant:
    issue, summaries = issues.load_issue_content(root, SAMPLE_ISSUE)
    return edition_for(topics, issue, summaries, load_taxonomy(root), large_text)


def test_a_reader_of_two_summaries_is_told_so_in_subject_preheader_and_first_lines(sample_root: Path):
    settings, issue, summaries, whole = sample(sample_root)
    part = render.render_issue(settings, issue, summaries, sample_edition(sample_root, FILTERED))
    assert part.filtered and not whole.filtered
    assert part.subject == "June 2026: 2 summaries on your topics"
    # The inbox line never names the reader's topics (health data on a lock screen).
    assert part.preheader == "2 summaries on your topics, picked from this issue's 9"
    reader = replace(render.proof_recipient(settings), name="Nurse, Erin", topics=FILTERED)
    html = personal.personalize_html(part.html, reader)
    assert "Nine new studies" not in html and "Nine new studies" in whole.html
    page = Page(html)
    note = "You chose Gut and microbiome and Optic neuritis, so this email has 2 of this issue's 9 summaries."
    assert f"Hi Erin, {note}" in page.text()
    text = personal.personalize_text(part.text, reader)
    assert text.split("\n")[4:14] == [
        "Hi Erin,",
        "",
        "You chose Gut and microbiome and Optic neuritis, so this email has 2 of this",
        "issue's 9 summaries.",
        "Read the full issue:",
        "https://msresearch.example.org/newsletter/archive/2026-06/",
        "",
        "What May brought, in plain language. Each summary links to its full write-up",
        "and the study.",
        "",
    ]
    # The gut section's part of the note, under its heading; nothing on microglia or PML.
    assert "GUT AND MICROBIOME\n==================\nA new look at how the gut and the brain talk" in text
    # Only the parts of the note about what this reader gets: nothing on microglia or PML.
    assert "microglia" not in " ".join(part.intro).casefold() and "PML" not in " ".join(part.intro)
    assert all(len(line) <= 78 or line.startswith("https://") for line in text.splitlines())
    assert "\n-- \n" in text  # the signature separator a mail client recognises


def test_a_tag_picks_only_its_summaries_never_the_rest_of_their_section(sample_root: Path):
    settings, issue, summaries, _ = sample(sample_root)
    pml = sample_edition(sample_root, ("PML",))
    assert pml.items == ("2026-05-01-early-detection-lower-spinal-fluid",) and pml.topics == ("PML",)
    rendered = render.render_issue(settings, issue, summaries, pml)
    assert "COVID" not in rendered.text and "COVID" not in " ".join(rendered.intro)
    assert rendered.note == "You chose PML, so this email has 1 of this issue's 9 summaries."


def test_only_the_topics_that_picked_something_are_named(sample_root: Path):
    settings, issue, summaries, _ = sample(sample_root)
    edition = sample_edition(sample_root, ("Treatments and care", "Optic neuritis"))
    rendered = render.render_issue(settings, issue, summaries, edition)
    assert edition.topics == ("Optic neuritis",)
    assert "Treatments and care" not in rendered.note + rendered.subject + rendered.preheader


def test_a_reader_whose_topics_match_nothing_is_told_so_and_gets_the_whole_issue(sample_root: Path):
    settings, issue, summaries, whole = sample(sample_root)
    edition = sample_edition(sample_root, ("Caregivers", "Treatments and care"))
    assert edition.unmatched and edition.items is None
    rendered = render.render_issue(settings, issue, summaries, edition)
    assert rendered.summary_ids == whole.summary_ids and rendered.subject == issue.subject
    line = (
        "None of your topics (Caregivers and Treatments and care) has a summary in this issue, "
        "so this email has all of it."
    )
    assert rendered.note == line and line in Page(rendered.html).text()
    assert " ".join(line.split()) in " ".join(rendered.text.split())


def test_the_inbox_names_topics_only_when_the_newsletter_turns_it_on(sample_root: Path):
    settings, issue, summaries, _ = sample(sample_root)
    named = replace(settings, name_topics_in_inbox=True)
    rendered = render.render_issue(named, issue, summaries, sample_edition(sample_root, FILTERED))
    assert (
        rendered.preheader
        == "2 summaries on Gut and microbiome and Optic neuritis, picked from this issue's 9"
    )


def test_the_editors_lines_for_filtered_readers_are_checked_placeholder_by_placeholder(workspace: Path):
    path = workspace / "issues" / "2026-06.yaml"
    original = path.read_text()
    path.write_text(original + 'filtered_subject: "Your {count} June picks: {topics}"\n')
    issue = issues.load_issue(workspace, "2026-06")
    assert issue.filtered_subject == "Your {count} June picks: {topics}" and issue.filtered_preheader == ""
    path.write_text(original + 'filtered_preheader: "{n} picks on {topic}"\n')
    with pytest.raises(
        ContentError, match=r"2026-06\.yaml:\d+: filtered_preheader: unknown placeholder; use only"
    ):
        issues.load_issue(workspace, "2026-06")


def test_the_larger_text_edition_is_one_more_rendering_with_the_same_content(sample_root: Path):
    settings, issue, summaries, standard = sample(sample_root)
    large = render.render_issue(settings, issue, summaries, Variant(large_text=True))
    assert large.large_text and large.summary_ids == standard.summary_ids and large.text == standard.text
    assert "font-size:20px" in large.html.replace(" ", "") and "font-size:20px" not in standard.html
    assert [a["href"] for a, _ in Page(large.html).links] == [a["href"] for a, _ in Page(standard.html).links]


def test_logo_and_signature_come_from_settings(workspace: Path):
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(
        settings_file.read_text() + "logo:\n  src: https://msresearch.example.org/logo.png\n"
        "  dark_src: https://msresearch.example.org/logo-dark.png\n  alt: MS Research Roundup\n"
        "  width: 220\n  height: 44\n"
    )
    settings = load_settings(workspace)
    assert settings.logo == Logo(
        "https://msresearch.example.org/logo.png", "MS Research Roundup", 220, 44,
        "https://msresearch.example.org/logo-dark.png",
    )  # fmt: skip
    assert settings.signature == "Maya Chen, editor"
    issue, summaries = issues.load_issue_content(workspace, "2026-06")
    page = Page(render.render_issue(settings, issue, summaries).html)
    logos = [i for i in page.tags("img") if i["src"].endswith("logo.png")]
    assert [(i["alt"], i["width"], i["height"]) for i in logos] == [("MS Research Roundup", "220", "44")]
    assert "— Maya Chen, editor" in page.text()


def test_a_bad_logo_is_reported_field_by_field(workspace: Path):
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(
        settings_file.read_text() + "logo:\n  src: http://example.org/logo.png\n  width: wide\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(workspace)
    message = str(caught.value)
    for field in ("logo.src: expected the image's absolute https URL", "logo.alt: required", "logo.width:",
                  "logo.height: required"):  # fmt: skip
        assert field in message, message


def test_who_should_care_and_the_considerations_are_carried_whole():
    long = "Carers should care because " + "this matters a great deal, " * 12 + "in the end. More."
    caution = "Only in mice.  Very high doses of vitamin D can be harmful; do not start them alone."
    card = render.card(replace(full("x", date(2026, 5, 2)), who_should_care=long, considerations=caution))
    assert card.who_should_care == " ".join(long.split())
    assert card.keep_in_mind == " ".join(caution.split())
    assert render.card(replace(full("y", date(2026, 5, 2)), considerations=" ")).keep_in_mind is None


def sample_editions(root: Path) -> list[Variant]:
    """Editions of the sample issue: the whole issue and each section alone in both text sizes,
    and each tag alone."""
    issue, summaries = issues.load_issue_content(root, SAMPLE_ISSUE)
    taxonomy = load_taxonomy(root)
    sections = [(), *((s.title,) for s in issue.sections)]
    tags = {(t,) for i in issue.summary_ids for t in summaries[i].topics}
    editions = {
        edition_for(t, issue, summaries, taxonomy, large) for t in sections for large in (False, True)
    }
    editions |= {edition_for(t, issue, summaries, taxonomy) for t in tags}
    assert len(editions) > 10
    return sorted(editions, key=repr)


def test_every_sentence_of_every_caution_is_in_every_edition(sample_root: Path):
    settings = load_settings(sample_root)
    issue, summaries = issues.load_issue_content(sample_root, SAMPLE_ISSUE)
    for edition in sample_editions(sample_root):
        rendered = render.render_issue(settings, issue, summaries, edition)
        html, text = Page(rendered.html).text(), " ".join(rendered.text.split())
        web = Page(rendered.web_html).text()
        carried = [summaries[i] for i in rendered.summary_ids if not summaries[i].is_teaser]
        assert carried or edition.items is not None
        for summary in carried:
            # The sample has no editor's short wording, so every edition carries every field whole.
            assert summary.considerations_short is None and summary.who_should_care_short is None
            for field in (summary.considerations, summary.who_should_care):
                for sentence in reader_text.sentences(field or ""):
                    assert sentence in html and sentence in text and sentence in web, (edition, sentence)


SHORT_CAUTION = "Only a small early study. Ask your neurologist before changing anything."
SHORT_CARE = "People with relapsing MS."


def test_an_editors_short_wording_goes_in_the_email_and_the_whole_text_on_the_web(workspace: Path):
    """With `considerations_short:` and `who_should_care_short:` written in the summary file, every
    edition's HTML and text part carry the short wording and a link to the summary's page instead
    of the whole field; the web page (the archive) still carries every sentence of the whole."""
    issue, summaries = issues.load_issue_content(workspace, SAMPLE_ISSUE)
    chosen = next(summaries[i] for i in issue.summary_ids if not summaries[i].is_teaser)
    path = workspace / content.SUMMARIES_DIR / f"{chosen.id}.yaml"
    path.write_text(
        path.read_text("utf-8")
        + f"considerations_short: {SHORT_CAUTION}\nwho_should_care_short: {SHORT_CARE}\n",
        "utf-8",
    )
    settings = load_settings(workspace)
    issue, summaries = issues.load_issue_content(workspace, SAMPLE_ISSUE)
    summary = summaries[chosen.id]
    assert (summary.considerations_short, summary.who_should_care_short) == (SHORT_CAUTION, SHORT_CARE)
    whole = [
        s for f in (summary.considerations, summary.who_should_care) for s in reader_text.sentences(f or "")
    ]
    assert whole
    seen = 0
    for edition in sample_editions(workspace):
        rendered = render.render_issue(settings, issue, summaries, edition)
        if summary.id not in rendered.summary_ids:
            continue
        seen += 1
        page = Page(rendered.html)
        html, text = page.text(), " ".join(rendered.text.split())
        web = Page(rendered.web_html).text()
        for body in (html, text):
            assert SHORT_CAUTION in body and SHORT_CARE in body, edition
            assert not [s for s in whole if s in body], edition
        assert ({"href": summary.url, "class": "nl-more"}, "Read the full caution") in [
            ({k: a.get(k) for k in ("href", "class")}, label.strip()) for a, label in page.links
        ], edition
        assert f"Read the full caution: {summary.url}" in text, edition
        assert all(s in web for s in whole) and SHORT_CAUTION not in web, edition
        assert "Read the full caution" not in web, edition
    assert seen > 2


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ("considerations_short: Short.\n", "considerations_short: set without `considerations:`"),
        ("considerations: none on the site\nconsiderations_short: Short.\n", "set without"),
        ("considerations: Fine.\nconsiderations_short: [a list]\n", "considerations_short: expected text"),
    ],
)
def test_a_short_wording_without_its_whole_field_is_refused(tmp_path: Path, fields: str, complaint: str):
    path = tmp_path / "summaries" / "x.yaml"
    path.parent.mkdir()
    path.write_text(
        "title: X\nurl: https://example.org/x\npublished: 2026-05-01\ntakeaway: T.\nfound: F.\n" + fields,
        "utf-8",
    )
    with pytest.raises(ContentError) as caught:
        content.load_summaries(tmp_path)
    assert "summaries/x.yaml" in str(caught.value) and complaint in str(caught.value), caught.value


TRACKING_PARAMS = re.compile(
    r"[?&](utm_[a-z]+|mc_[ce]id|_hsenc|_hsmi|fbclid|gclid|ck_subscriber_id|trk|track)=", re.I
)


def test_no_email_carries_an_open_pixel_or_a_rewritten_link(sample_root: Path):
    """This newsletter tracks no one (topic choices are health data): no 1x1 image, no tracking
    parameter, every link going straight where it says, in any edition."""
    settings = load_settings(sample_root)
    issue, summaries = issues.load_issue_content(sample_root, SAMPLE_ISSUE)
    for edition in sample_editions(sample_root):
        rendered = render.render_issue(settings, issue, summaries, edition)
        assert_untracked(settings, issue, summaries, rendered)


def assert_untracked(settings, issue, summaries, rendered) -> None:
    html = personal.personalize_html(rendered.html, render.proof_recipient(settings))
    page = Page(html)
    for image in page.tags("img"):
        assert image.get("width") not in ("0", "1") and image.get("height") not in ("0", "1"), image
    assert not TRACKING_PARAMS.search(html) and not TRACKING_PARAMS.search(rendered.text)
    allowed = {
        *(summaries[i].url for i in issue.summary_ids),
        settings.site_url,
        f"{settings.archive_url}{issue.id}/",
        settings.unsubscribe_url.replace("{token}", "proof"),
        settings.preferences_url.replace("{token}", "proof"),
        settings.privacy_url,
    }
    hrefs = {a["href"] for a, _ in page.links if not a["href"].startswith("#")}
    assert hrefs <= allowed, hrefs - allowed
    text_links = set(
        re.findall(r"https://\S+", personal.personalize_text(rendered.text, render.proof_recipient(settings)))
    )
    assert text_links <= allowed | {settings.site_url + "."}, text_links - allowed

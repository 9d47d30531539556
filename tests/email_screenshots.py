"""Screenshots of the sample issue's email, and its phone heights, to look at and to commit.

    .venv/bin/python tests/email_screenshots.py                 # writes docs/screenshots/email/*.png
    .venv/bin/python tests/email_screenshots.py --measure-only  # prints the heights, writes nothing

Two readers (the whole issue; a filtered one: "Gut and microbiome" and "Optic neuritis"), each in
the default and the larger text, at 375 and 800 px, light and dark: 16 PNGs at device scale 1,
made in headless Debian chromium (tests/screenshots.py) and saved with a 32-colour palette
(Pillow), which keeps text legible at a fifth of the size. For each it prints the page height and
where the first story's title starts, in CSS pixels. The sample is copied to a temporary folder
first: the repository's workspace is only read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import screenshots  # noqa: E402
from reader_render import Variant, write_variant  # noqa: E402
from sample_workspace import SAMPLE_ISSUE, copy_sample_workspace  # noqa: E402

OUT = HERE.parent / "docs" / "screenshots" / "email"
READERS = (
    Variant("whole"),
    Variant("whole-large", large_text=True),
    Variant("filtered", topics=("Gut and microbiome", "Optic neuritis")),
    Variant("filtered-large", topics=("Gut and microbiome", "Optic neuritis"), large_text=True),
)
FIRST_TITLE = """
const range = document.createRange(); range.selectNodeContents(document.querySelector('h3 a'));
return range.getClientRects()[0].top + scrollY;
"""


def small(png: Path) -> None:
    """Rewrite a screenshot with a 32-colour palette: the email's few colours, anti-aliased text kept."""
    from PIL import Image

    with Image.open(png) as image:
        reduced = image.convert("RGB").quantize(
            colors=32, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    reduced.save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs go (default {OUT})")
    parser.add_argument("--measure-only", action="store_true", help="print the heights; write no PNG")
    args = parser.parse_args(argv)
    if missing := screenshots.missing_browser():
        print(f"error: not installed: {', '.join(missing)}; apt-get install chromium chromium-driver")
        return 1
    from newsletter.store import issues
    from newsletter.store.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        root = copy_sample_workspace(Path(tmp) / "ws")
        settings = load_settings(root)
        issue, summaries = issues.load_issue_content(root, SAMPLE_ISSUE)
        pages = [(v, write_variant(Path(tmp), settings, issue, summaries, v)) for v in READERS]
        if not args.measure_only:
            args.out.mkdir(parents=True, exist_ok=True)
        driver = screenshots.start_browser()
        try:
            for variant, page in pages:
                for width in (screenshots.PHONE, screenshots.DESKTOP):
                    for scheme in screenshots.Scheme:
                        screenshots.show(driver, page, width, scheme)
                        height = screenshots.page_height(driver)
                        top = driver.execute_script(FIRST_TITLE)
                        name = f"{variant.name}-{width}-{scheme}.png"
                        if not args.measure_only:
                            screenshots.save_full_page(driver, args.out / name)
                            small(args.out / name)
                        print(f"{name}: page {height} px, first title at {top:.0f} px")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Split the site's run-together topic tags (`Autoimmune diseaseBrainDemyelination`) by a vocabulary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TagSplit:
    tags: tuple[str, ...]  # in the site's own spelling, in page order
    unknown: tuple[str, ...]  # pieces no known tag covers; kept as tags, reported as warnings


def split_tags(run: str, vocabulary: Iterable[str]) -> TagSplit:
    """Split `run` into known tags, matching case-insensitively but keeping the page's spelling.

    Among all splits, the one leaving the fewest characters unexplained wins, then the one with
    the fewest unknown pieces, then the one with the fewest (so longest) tags; a piece nothing
    matches stays one tag, so no text is ever dropped.
    """
    text = run.strip()
    if "," in text:  # a page that does separate its tags needs no vocabulary
        pieces = [p.strip() for p in text.split(",") if p.strip()]
        return TagSplit(tuple(pieces), ())
    folded = _fold(text)
    known = sorted({_fold(t.strip()) for t in vocabulary if t.strip()}, key=len, reverse=True)
    n = len(text)
    # best[i] = (unknown chars, unknown pieces, tags, pieces as (start, end, known)) for text[:i]
    best: list[tuple[int, int, int, tuple] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0, ())
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        options = [(i + len(t), True) for t in known if folded.startswith(t, i)]
        options += [(j, False) for j in range(i + 1, n + 1)]
        for j, is_known in options:
            cost = (
                here[0] + (0 if is_known else j - i),
                here[1] + (0 if is_known else 1),
                here[2] + 1,
                (*here[3], (i, j, is_known)),
            )
            if best[j] is None or cost[:3] < best[j][:3]:
                best[j] = cost
    pieces = best[n][3] if n else ()
    tags = tuple(text[i:j].strip() for i, j, _ in pieces if text[i:j].strip())
    unknown = tuple(text[i:j].strip() for i, j, k in pieces if not k and text[i:j].strip())
    return TagSplit(tags, unknown)


def _fold(text: str) -> str:
    """Lowercase character by character, so positions in the folded text match the original."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)

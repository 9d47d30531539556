"""Split the site's run-together topic tags (`Autoimmune diseaseBrainDemyelination`) by a vocabulary."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Where a word ends without a separator: "DemyelinationBrain" (lower, then upper) and "DRelapses"
# (an upper-case run, then a capitalised word: the run's last capital starts the word).
_CASE_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class TagSplit:
    tags: tuple[str, ...]  # in the site's own spelling, in page order
    unknown: tuple[str, ...]  # pieces no known tag covers; kept as tags, reported as warnings


def split_tags(run: str, vocabulary: Iterable[str]) -> TagSplit:
    """Split `run` into known tags, matching case-insensitively but keeping the page's spelling.

    Among all splits, the one leaving the fewest characters unexplained wins, then the one with
    the fewest unknown pieces, then the one with the fewest (so longest) tags. A piece nothing
    matches is split at its case changes (`split_at_case`), so no text is ever dropped and no
    glued tags reach readers.
    """
    text = run.strip()
    if "," in text:  # a page that does separate its tags needs no vocabulary
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return TagSplit(tuple(parts), ())
    folded = _fold(text)
    known = sorted({_fold(t.strip()) for t in vocabulary if t.strip()}, key=len, reverse=True)
    n = len(text)
    # best[i] = (unknown chars, unknown pieces, tags, pieces as (start, end, known)) for text[:i]
    Piece = tuple[int, int, bool]
    best: list[tuple[int, int, int, tuple[Piece, ...]] | None] = [None] * (n + 1)
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
            there = best[j]
            if there is None or cost[:3] < there[:3]:
                best[j] = cost
    last = best[n]
    pieces = last[3] if n and last is not None else ()
    tags: list[str] = []
    unknown: list[str] = []
    for i, j, is_known in pieces:
        piece = text[i:j].strip()
        if not piece:
            continue
        if is_known:
            tags.append(piece)
        else:
            parts = split_at_case(piece)
            tags += parts
            unknown += parts
    return TagSplit(tuple(tags), tuple(unknown))


def split_at_case(piece: str) -> list[str]:
    """`Vitamin DRelapsesCohort study` -> [`Vitamin D`, `Relapses`, `Cohort study`]."""
    return [part.strip() for part in _CASE_BOUNDARY.split(piece) if part.strip()]


def looks_glued(tag: str) -> bool:
    """A tag that still holds a case change inside a word, as run-together tags do."""
    return len(split_at_case(tag)) > 1


def _fold(text: str) -> str:
    """Lowercase character by character, so positions in the folded text match the original."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)

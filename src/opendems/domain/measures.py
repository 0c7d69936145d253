"""How far a recognised text is from the one that was said or written: the edit distance the
word and character error rates (of transcripts and OCR) are counted with."""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(reference: Sequence[object], hypothesis: Sequence[object]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``
    (Levenshtein, one row at a time)."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def error_rate(reference: Sequence[object], hypothesis: Sequence[object]) -> float:
    """The edit distance per reference unit (word or character); an empty reference is 0 when
    nothing was recognised either, else 1."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)

"""Word n-grams and their overlap, shared by duplicate removal and the diversity statistics.

Texts are compared after whitespace and case normalisation only: lower-cased and split on runs
of whitespace. Punctuation stays attached to its word, so "42." and "42" differ; that keeps
two rationales that differ only in an answer's formatting apart, which is what we want.
"""

from __future__ import annotations

from collections.abc import Sequence

Gram = tuple[str, ...]


def words(text: str) -> list[str]:
    """Lower-cased, whitespace-split words of ``text``."""
    return text.lower().split()


def normalised(text: str) -> str:
    """``text`` with case folded and whitespace runs collapsed: the key for exact duplicates."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> list[Gram]:
    """All contiguous n-grams of ``tokens`` in order, with repeats (empty if too short)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def gram_set(text: str, n: int = 3) -> frozenset[Gram]:
    """The set of word n-grams of ``text``, for Jaccard overlap.

    A text shorter than ``n`` words has no n-gram; it is represented by its whole word tuple
    instead, so two identical short texts still overlap fully and two different ones not at
    all (otherwise every pair of short texts would compare as empty sets).
    """
    tokens = words(text)
    if len(tokens) < n:
        return frozenset({tuple(tokens)})
    return frozenset(ngrams(tokens, n))


def jaccard(a: frozenset[Gram], b: frozenset[Gram]) -> float:
    """|a ∩ b| / |a ∪ b|; 1.0 for two empty sets (they are the same set)."""
    union = len(a | b)
    if union == 0:
        return 1.0
    return len(a & b) / union

"""CommonsenseQA with CoS-E explanations: pick one of five answer choices.

Input rendering (the Distilling step-by-step convention, which the PaLM rationales answer)::

    What is this an example of?
    Answer Choices:
    (a) park
    (b) coloring book
    ...

The gold label is the choice text; answer keys are choice texts lower-cased with whitespace
collapsed. Reading an answer from a rationale ("So the answer is (d) math problem."): after the
last answer cue, a lettered choice wins (the letter is what the few-shot format commits to);
without a letter, the choice text named there; without a cue, the choice mentioned last. A
hedge naming two choices ("either (a) aquarium or (e) pond") is ``"ambiguous choice"``, not a
guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qcrd.tasks.base import Answer, after_answer_cue, normalize_text

LETTERS = "abcdefghij"
CHOICES_HEADER = "Answer Choices:"
_LETTER = re.compile(r"\(([a-j])\)", re.IGNORECASE | re.ASCII)
_CHOICE_LINE = re.compile(r"^\(([a-j])\)\s*(.*)$", re.ASCII)


def render_input(question: str, choices: tuple[str, ...]) -> str:
    """``question\\nAnswer Choices:\\n(a) ...\\n(b) ...`` for up to ten choices."""
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices can be lettered, got {len(choices)}")
    lines = [question.strip(), CHOICES_HEADER]
    lines += [f"({LETTERS[i]}) {choice.strip()}" for i, choice in enumerate(choices)]
    return "\n".join(lines)


def parse_choices(task_input: str) -> tuple[str, ...]:
    """The choices of an input made by :func:`render_input` (empty if it has none).

    Lets a generic JSONL file carry CQA inputs without a separate choices field.
    """
    _, header, rest = task_input.partition(CHOICES_HEADER)
    if not header:
        return ()
    choices: list[str] = []
    for line in rest.strip().splitlines():
        match = _CHOICE_LINE.match(line.strip())
        if match is None or match.group(1) != LETTERS[len(choices)]:
            return ()
        choices.append(match.group(2).strip())
    return tuple(choices)


def _mentioned(text: str, choices: tuple[str, ...]) -> list[tuple[int, str]]:
    """(end of its last mention, normalized choice) for every choice the text names.

    Longer choices claim their spans first, so "bus depot" is not also a mention of "bus";
    a "bus" elsewhere in the text still counts.
    """
    norm_text = normalize_text(text)
    claimed: list[tuple[int, int]] = []
    found = []
    for choice in sorted({normalize_text(c) for c in choices}, key=len, reverse=True):
        if not choice:
            continue
        last_end = -1
        for m in re.finditer(rf"(?<!\w){re.escape(choice)}(?!\w)", norm_text):
            if not any(m.start() < end and start < m.end() for start, end in claimed):
                claimed.append(m.span())
                last_end = m.end()
        if last_end >= 0:
            found.append((last_end, choice))
    return found


def _choice_from_letter(letter: str, choices: tuple[str, ...]) -> Answer:
    index = LETTERS.index(letter.lower())
    if index >= len(choices):
        return Answer(None, "choice letter out of range")
    return Answer(normalize_text(choices[index]))


def _read_cue_tail(tail: str, choices: tuple[str, ...]) -> Answer:
    letters = {m.group(1).lower() for m in _LETTER.finditer(tail)}
    if len(letters) > 1:
        return Answer(None, "ambiguous choice")
    if letters:
        return _choice_from_letter(letters.pop(), choices)
    named = _mentioned(tail, choices)
    if len(named) > 1:
        return Answer(None, "ambiguous choice")
    if named:
        return Answer(named[0][1])
    return Answer(None, "no choice")


def _last_mentioned(text: str, choices: tuple[str, ...]) -> Answer:
    named = _mentioned(text, choices)
    if not named:
        return Answer(None, "no choice")
    return Answer(max(named)[1])


@dataclass(frozen=True)
class CqaTask:
    """CommonsenseQA / CoS-E v1.11 (five choices; the label is the choice text)."""

    name: str = "cqa"

    def canonical_label(self, label: str, choices: tuple[str, ...] = ()) -> str:
        """The choice, spelled as in ``choices``, that the label names (``ValueError`` if none)."""
        if not choices:
            raise ValueError("a CQA label needs its answer choices")
        wanted = normalize_text(label)
        for choice in choices:
            if normalize_text(choice) == wanted:
                return choice
        raise ValueError(f"label {label!r} is not one of the choices {list(choices)}")

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The normalized choice text of the gold label."""
        return Answer(normalize_text(self.canonical_label(label, choices)))

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The choice after the last answer cue, else the choice the text mentions last."""
        if not choices:
            return Answer(None, "no choices")
        tail = after_answer_cue(text)
        if tail is not None:
            answer = _read_cue_tail(tail, choices)
            if answer.reason != "no choice":
                return answer
        return _last_mentioned(text, choices)

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The student's label output: a choice text, a lettered choice, or a rationale."""
        if not choices:
            return Answer(None, "no choices")
        wanted = normalize_text(text)
        if any(normalize_text(c) == wanted for c in choices):
            return Answer(wanted)
        letter = re.fullmatch(r"\(?([a-j])\)", wanted, re.ASCII)
        if letter:
            return _choice_from_letter(letter.group(1), choices)
        return self.extract_answer(text, choices)

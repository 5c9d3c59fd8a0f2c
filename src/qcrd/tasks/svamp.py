"""SVAMP: arithmetic word problems whose gold label is an equation, scored by its value.

Answer keys are values formatted by :func:`qcrd.tasks.arithmetic.format_number` (4 decimals),
so ``( 84.0 / 2.0 )``, ``42`` and ``The answer is (84 / 2).`` all read as ``"42"``.

Reading an answer from a rationale:
    * PaLM style ends in a cue and an expression, ``The answer is ((438 - 178) - (18 - 55)).``:
      the expression is evaluated. A cue followed by prose (``the answer is: Haley gave the
      marbles to 14 boys.``) is read like a final sentence (below). A cue with no number after
      it (``so our answer is correct.``) is no cue: the whole text is read as prose.
    * GPT-3.5 style prose has no cue and states its result in its last sentence that has a
      number, often followed by the working or other quantities: ``Paul had 223 crayons left
      after he gave away 111 ... and lost 106.`` reads 223. Rules, in order (each one applies
      only if the text it keeps still has a number):

      1. Trailing check, explanation or aside: cut the text at its last sentence that opens
         with ``To check``, ``We can verify``, ``This confirms``, ``Note``, ``Alternatively``,
         ``Another way``, ``To see why``, ``Here's why`` (and the like) or that calls a
         quantity irrelevant (``The 34 trousers are not needed ...``), unless a
         ``Therefore/So/Thus/Hence`` sentence with a number follows it (``So our answer
         checks out!`` does not count): ``Tiffany had 4 bags on Monday. To see why, ...
         4 + 4 = 8 (total)`` reads 4. Then take the last sentence with a number outside
         parentheses (``... 2 cookies. (14 divided by 7)`` reads 2).
      2. In that sentence: drop a leading label (``Step 2:``); keep the clause after the last
         ``, so``; drop parentheticals (``70 pieces (28 + 42)``); drop a leading adverbial
         clause (``Therefore, after 87 days of harvest, they ...``).
      3. The first number after the last ``=``, ``≈``, ``equals`` or ``equal to``, if any
         (``he scored 191 x 79 = 15,109 points``), else the first number.

      Numbers: ``$3,168`` -> 3168, ``42%`` -> 42, a sentence-final ``32.`` -> 32; a ``-``
      glued to a preceding word or digit is subtraction, not a sign. Which of several stated
      quantities the question asks for (``Julia played with 14 kids on Tuesday and 16 on
      Wednesday, for a total of 30``) depends on the question, which the reader never sees;
      rules for such clauses were measured on the MCC-KD data and left out (no clear gain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qcrd.tasks.arithmetic import (
    ArithmeticParseError,
    ExpressionError,
    ExpressionLimitError,
    evaluate,
    format_number,
    parse_number,
)
from qcrd.tasks.base import Answer, after_answer_cue

# A number in prose: optional sign (only when not glued to a word, digit or point before it),
# ASCII digits with optional strict thousands groups and decimals. "32." ends a sentence.
_PROSE_NUMBER = re.compile(
    r"(?<![\w.])(-)?((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)(?![0-9])",
    re.ASCII,
)


# Sentences: split after ". ", "! ", "? " (not inside "5.5" or "$3.50") and at line breaks.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# A sentence that checks, explains or adds to an answer already given (rule 1): "To check,
# ...", "Note that ...", "Another way ...", and "Tiffany had 4 bags. To see why, ...".
_CHECK_OR_ASIDE = re.compile(
    r"\W*(?:to (?:double[- ]?)?check|to verify|to confirm|we can (?:double[- ]?)?check"
    r"|we can (?:verify|confirm)|check(?:ing)?\b|this confirms|note\b|alternatively"
    r"|additionally|another way|to see why|to find out why|here's (?:why|how)|to explain"
    r"|explanation)",
    re.IGNORECASE | re.ASCII,
)
# "The 34 trousers are not needed to find ...": a sentence about a quantity the answer skips.
_IRRELEVANT = re.compile(
    r"\b(?:irrelevant|not relevant|unrelated|not needed|isn't needed|not necessary|not required"
    r"|does(?: not|n't) matter)\b",
    re.IGNORECASE | re.ASCII,
)
_CONCLUSION = re.compile(r"\W*(?:therefore|thus|hence|so)\b", re.IGNORECASE | re.ASCII)
# "Step 2: Therefore, ...", "Group 4: 2 eggs": a label, not a quantity. ("2. So ..." needs no
# rule: the sentence split already cuts after "2.")
_LIST_LABEL = re.compile(r"\W*[a-z]+\s*[0-9]+\s*:", re.IGNORECASE | re.ASCII)
# "..., so the candy bar must have cost $1": the clause after the last ", so" concludes.
_SO_CLAUSE = re.compile(r"[,;]\s*(?:and\s+)?so\b(?!\s+that\b),?", re.IGNORECASE | re.ASCII)
_PARENTHETICAL = re.compile(r"\([^()]*\)")
# "Therefore, after 87 days of harvest, ...": an opening adverbial clause up to ", ".
# A comma followed by a digit is a thousands separator, not the end of the clause.
_LEADING_CLAUSE = re.compile(
    r"\W*(?:(?:therefore|thus|hence|so|finally|now)\s*,?\s*)?"
    r"(?:after|in|with|if|since|because|when|once|given|for|by|over|at|from|out of|using"
    r"|based on|considering)\b(?:[^,]|,(?=[0-9]))*,\s+",
    re.IGNORECASE | re.ASCII,
)
_EQUALS = re.compile(r"=|≈|\bequals\b|\bequal to\b", re.IGNORECASE)
_NO_NUMBER = "no number"


def render_input(body: str, question: str) -> str:
    """The model input of a SVAMP problem, as the Distilling step-by-step files spell it."""
    return f"{body.strip()}\n{question.strip()}"


def _number_answer(match: re.Match[str]) -> Answer:
    sign, literal = match.groups()
    try:
        value = parse_number(literal)
    except ExpressionError as err:
        return Answer(None, err.reason)
    return Answer(format_number(-value if sign else value))


def last_number(text: str) -> Answer:
    """The last number written in ``text`` as an answer key, or ``Answer(None, 'no number')``."""
    matches = list(_PROSE_NUMBER.finditer(text))
    if not matches:
        return Answer(None, _NO_NUMBER)
    return _number_answer(matches[-1])


def _has_number(text: str) -> bool:
    return _PROSE_NUMBER.search(text) is not None


def _kept(text: str, narrower: str) -> str:
    """``narrower`` if it still has a number, else ``text``: no rule may lose every number."""
    return narrower if _has_number(narrower) else text


def read_sentence(sentence: str) -> Answer:
    """The number a concluding sentence commits to (rules 2 and 3 of the module docstring)."""
    label = _LIST_LABEL.match(sentence)
    if label:
        sentence = _kept(sentence, sentence[label.end() :])
    sentence = _kept(sentence, _SO_CLAUSE.split(sentence)[-1])
    sentence = _kept(sentence, _PARENTHETICAL.sub(" ", sentence))
    lead = _LEADING_CLAUSE.match(sentence)
    if lead:
        sentence = _kept(sentence, sentence[lead.end() :])
    sentence = _kept(sentence, _EQUALS.split(sentence)[-1])
    first = _PROSE_NUMBER.search(sentence)
    return _number_answer(first) if first else Answer(None, _NO_NUMBER)


def read_prose(text: str) -> Answer:
    """The answer a prose rationale ends on (rules 1-3 of the module docstring)."""
    sentences = [s for s in _SENTENCE_BREAK.split(text) if s.strip()]
    asides = [
        i for i, s in enumerate(sentences) if _CHECK_OR_ASIDE.match(s) or _IRRELEVANT.search(s)
    ]
    if asides:
        before, after = sentences[: asides[-1]], sentences[asides[-1] :]
        restated = any(_CONCLUSION.match(s) and _has_number(s) for s in after)
        if any(map(_has_number, before)) and not restated:
            sentences = before
    numbered = [s for s in sentences if _has_number(s)]
    if not numbered:
        return Answer(None, _NO_NUMBER)
    # "Each bag would have 2 cookies. (14 divided by 7)": working, not the result.
    stated = [s for s in numbered if _has_number(_PARENTHETICAL.sub(" ", s))]
    return read_sentence((stated or numbered)[-1])


def _balanced_prefix(text: str) -> str | None:
    """``"(7 * 36)"`` from ``"(7 * 36) pencils"``; ``None`` if the parentheses never close."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return text[: i + 1]
    return None


def _value_answer(text: str) -> Answer:
    """The value of ``text`` as an expression, or the evaluator's reason for refusing it."""
    try:
        return Answer(format_number(evaluate(text)))
    except ExpressionError as err:
        return Answer(None, err.reason)


# Reasons meaning "this text is not an expression", as opposed to one that fails to compute.
_NOT_AN_EXPRESSION = frozenset({ArithmeticParseError.reason, ExpressionLimitError.reason})


def _answer_after_cue(tail: str) -> Answer:
    body = tail.replace("$", "").strip().rstrip(".").strip()
    whole = _value_answer(body)
    if whole.ok or whole.reason not in _NOT_AN_EXPRESSION:
        return whole
    if body.startswith("("):
        # "(7 * 36) pencils": the expression, then words. Digits after the group mean a
        # larger expression we could not parse ("(9 + 6) and (2 - 1)"): refuse to guess.
        group = _balanced_prefix(body)
        if group is None or re.search(r"[0-9]", body[len(group) :]):
            return whole
        return _value_answer(group)
    # Prose after the cue: its first sentence with a number is the one the cue introduces.
    numbered = [s for s in _SENTENCE_BREAK.split(tail) if _has_number(s)]
    return read_sentence(numbered[0]) if numbered else Answer(None, _NO_NUMBER)


@dataclass(frozen=True)
class SvampTask:
    """SVAMP (Patel et al., 2021): the label is an equation string such as ``( 84.0 / 2.0 )``."""

    name: str = "svamp"

    def canonical_label(self, label: str, choices: tuple[str, ...] = ()) -> str:
        """The label stripped, after checking that it evaluates (``ValueError`` if not)."""
        evaluate(label.strip())
        return label.strip()

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The value of the equation (or plain number) as an answer key."""
        return Answer(format_number(evaluate(label.strip())))

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The value after the last "answer is" cue, else the number the prose ends on.

        A text that is nothing but an arithmetic expression (a student that answers its
        explain prompt with an equation) is read as that expression's value.
        """
        whole = _value_answer(text.strip().rstrip("."))
        if whole.ok:
            return whole
        tail = after_answer_cue(text)
        if tail is not None:
            cued = _answer_after_cue(tail)
            # "so our answer is correct.": a cue with no number after it is not a cue.
            if cued.ok or cued.reason != _NO_NUMBER:
                return cued
        return read_prose(text)

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The student's label output: an equation if it is one, else read like a rationale."""
        whole = _value_answer(text.strip())
        if whole.ok or whole.reason not in _NOT_AN_EXPRESSION:
            return whole
        return self.extract_answer(text)

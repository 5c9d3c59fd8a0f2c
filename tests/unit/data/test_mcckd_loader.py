"""The MCC-KD loader: the real 700/150/150 split joined to SVAMP.json, and broken copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcrd.config import DataConfig
from qcrd.data import DataError, load_mcckd
from qcrd.data.mcckd import MCCKD_FOLDER, SOURCE_TAG, SVAMP_JSON
from qcrd.tasks import SvampTask


def test_real_split_fully_joined(data_root: Path) -> None:
    data = load_mcckd(DataConfig(task="svamp", source="mcckd", root=str(data_root)))
    assert (len(data.train), len(data.valid), len(data.test)) == (700, 150, 150)
    assert data.bad_rows.total == 0
    assert any("joined 1000/1000" in note for note in data.notes)
    # SVAMP.json's Answer for chal-680 is wrong (1; the equation gives 5) and MCC-KD copied it.
    assert any("chal-680" in note for note in data.notes)
    ids = [e.id for e in data.train + data.valid + data.test]
    assert len(set(ids)) == 1000
    assert all(i.startswith("chal-") for i in ids)

    first = data.train[0]
    raw = json.loads((data_root / MCCKD_FOLDER / "train.json").read_text())[0]
    assert first.input == (
        "Danny collects bottle caps and wrappers. He found 15 bottle caps and 18 wrappers at "
        "the park. Now he has 67 wrappers and 35 bottle caps in his collection.\n"
        "How many more wrappers than bottle caps does danny have now?"
    )
    task = SvampTask()
    assert task.label_answer(first.label).key == "32"
    assert first.label.startswith("(")  # the equation, not MCC-KD's number

    assert len(data.rationales) == 700
    assert all(len(s.rationales) == 10 for s in data.rationales)
    # Original order kept: the replay teacher, not the loader, draws the subset.
    assert [r.text for r in data.rationales[0].rationales] == [t.strip() for t in raw["output"]]
    assert {r.source for s in data.rationales for r in s.rationales} == {SOURCE_TAG}


def test_first_rationales_are_mostly_correct(data_root: Path) -> None:
    """The README: correct at position 0 for 665/700 questions, at position 9 for 167/700.

    The README counts with the last number of each rationale; the ranges below are for
    ``SvampTask.extract_answer``.
    """
    data = load_mcckd(DataConfig(task="svamp", source="mcckd", root=str(data_root)))
    task = SvampTask()
    gold = {e.id: task.label_answer(e.label).key for e in data.train}
    correct = [0] * 10
    for rationale_set in data.rationales:
        for i, rationale in enumerate(rationale_set.rationales):
            correct[i] += task.extract_answer(rationale.text).key == gold[rationale_set.id]
    assert 655 <= correct[0] <= 675  # measured 657 with the prose reader (666 last number)
    # Measured 304 with the prose reader of qcrd.tasks.svamp; the README's 167 counts the last
    # number. The file order seems to follow a last-number check, so the rationales that check
    # misread (correct answer, other number last) sit at late positions.
    assert 285 <= correct[9] <= 320


def _write_copy(root: Path, train: list[object]) -> None:
    svamp = [
        {
            "ID": "chal-1",
            "Body": "Tom has 3 apples. He buys 2 more",
            "Question": "How many now?",
            "Equation": "( 3.0 + 2.0 )",
            "Answer": 5.0,
            "Type": "Addition",
        },
        {
            "ID": "chal-2",
            "Body": "Ann had 9 pens. She lost 4",
            "Question": "How many left?",
            "Equation": "( 9.0 - 4.0 )",
            "Answer": 5.0,
            "Type": "Subtraction",
        },
        {"ID": "chal-3", "Body": "No equation here", "Question": "Why?"},
    ]
    (root / SVAMP_JSON).parent.mkdir(parents=True)
    (root / SVAMP_JSON).write_text(json.dumps(svamp))
    folder = root / MCCKD_FOLDER
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps(train))
    for name in ("dev.json", "test.json"):
        (folder / name).write_text("[]")


def test_bad_rows_are_counted_by_reason(tmp_path: Path) -> None:
    train: list[object] = [
        {
            "instruction": "Tom  has 3 apples. He buys 2 MORE how many now?\n",
            "output": ["3 + 2 = 5 apples.", "  ", "He has 5."],
            "label": "5",
        },
        {"instruction": "A question nobody wrote down?", "output": ["1"], "label": "1"},
        {"output": ["1"], "label": "1"},
        "not an object",
        {
            "instruction": "Ann had 9 pens. She lost 4 How many left?",
            "output": "4 left",
            "label": "5",
        },
        {
            "instruction": "Tom has 3 apples. He buys 2 more How many now?",
            "output": [],
            "label": "5",
        },
    ]
    _write_copy(tmp_path, train)
    data = load_mcckd(DataConfig(task="svamp", source="mcckd", root=str(tmp_path)))
    assert [e.id for e in data.train] == ["chal-1", "chal-2"]
    assert dict(data.bad_rows.counts) == {
        "SVAMP.json entry malformed": 1,
        "rationale skipped: empty": 1,
        "question not in SVAMP.json": 1,
        "missing instruction": 1,
        "not a JSON object": 1,
        "duplicate id": 1,
    }
    assert [len(s.rationales) for s in data.rationales] == [2, 1]  # a lone string is one
    assert any("joined 3/6" in note for note in data.notes)


def test_only_svamp(data_root: Path) -> None:
    with pytest.raises(DataError, match="SVAMP only"):
        load_mcckd(DataConfig(task="cqa", source="mcckd", root=str(data_root)))

"""The Distilling step-by-step loader on the real files, and on small broken copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qcrd.config import DataConfig
from qcrd.data import DataError, load_data, load_dss
from qcrd.data import dss as dss_module
from qcrd.data.dss import SOURCE_TAG, clean_completion
from qcrd.data.records import LoadedData
from qcrd.tasks import get_task


def _agreement(data: LoadedData, task_name: str) -> float:
    """Share of train rationales whose extracted answer equals the gold answer."""
    task = get_task(task_name)
    gold = {e.id: e for e in data.train}
    hits = 0
    for rationale_set in data.rationales:
        example = gold[rationale_set.id]
        answer = task.extract_answer(rationale_set.rationales[0].text, example.choices)
        hits += answer.key == task.label_answer(example.label, example.choices).key
    return hits / len(data.rationales)


def test_svamp(data_root: Path) -> None:
    data = load_dss(DataConfig(task="svamp", source="dss", root=str(data_root)))
    assert (len(data.train), len(data.valid), len(data.test)) == (800, 0, 200)
    assert data.bad_rows.total == 0
    first = data.train[0]
    assert first.id == "train-0"
    assert first.label == "( 84.0 / 2.0 )"
    assert first.input.endswith("\nHow many points did he score per round?")
    assert [s.id for s in data.rationales] == [e.id for e in data.train]
    rationale = data.rationales[0].rationales[0]
    assert rationale.source == SOURCE_TAG
    # Cut before PaLM's invented next question, answer sentence kept.
    assert rationale.text.endswith("84 / 2 = 42. The answer is (84 / 2).")
    assert all("\n\nQ:" not in s.rationales[0].text for s in data.rationales)
    # The README: about 25-35% of PaLM rationales are wrong (measured here: 74.4% right).
    assert 0.65 <= _agreement(data, "svamp") <= 0.78


def test_svamp_valid_is_carved_from_train(data_root: Path) -> None:
    data = load_data(DataConfig(task="svamp", source="dss", root=str(data_root)))
    assert (len(data.train), len(data.valid), len(data.test)) == (720, 80, 200)
    assert not {e.id for e in data.train} & {e.id for e in data.valid}
    assert {s.id for s in data.rationales} == {e.id for e in data.train}
    again = load_data(DataConfig(task="svamp", source="dss", root=str(data_root)))
    assert [e.id for e in again.valid] == [e.id for e in data.valid]  # seeded
    other = load_data(DataConfig(task="svamp", source="dss", root=str(data_root), seed=1))
    assert [e.id for e in other.valid] != [e.id for e in data.valid]


def test_cqa(data_root: Path) -> None:
    data = load_dss(DataConfig(task="cqa", source="dss", root=str(data_root)))
    assert (len(data.train), len(data.valid), len(data.test)) == (9741, 0, 1221)
    assert data.bad_rows.total == 0
    first = data.train[0]
    assert first.id == "6b819727eb8a670df26a7ffad036c119"
    assert first.label == "math problem"
    assert first.choices == ("park", "coloring book", "garden center", "math problem", "gravity")
    assert first.input.endswith(
        "Answer Choices:\n(a) park\n(b) coloring book\n(c) garden center"
        "\n(d) math problem\n(e) gravity"
    )
    assert data.rationales[0].rationales[0].text.endswith("So the answer is (d) math problem.")
    assert 0.70 <= _agreement(data, "cqa") <= 0.80  # measured: 75.4%


def test_anli1_train_is_missing(data_root: Path) -> None:
    with pytest.raises(DataError, match=r"anli1_train\.json is missing.*data\.source=hub"):
        load_dss(DataConfig(task="anli1", source="dss", root=str(data_root)))


def test_esnli_is_not_in_the_folder(data_root: Path) -> None:
    with pytest.raises(DataError, match=r"data\.source=hub"):
        load_dss(DataConfig(task="esnli", source="dss", root=str(data_root)))


def test_missing_root_names_the_settings(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.root.*QCRD_DATA_ROOT"):
        load_dss(DataConfig(task="svamp", source="dss", root=str(tmp_path / "nowhere")))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("So 3. The answer is (3).\n\nQ: There are 15 trees.\nA: ...", "So 3. The answer is (3)."),
        ("The answer is (3 - 2).\n\nQ", "The answer is (3 - 2)."),  # truncated marker
        ("The answer is (5 - 4).\n", "The answer is (5 - 4)."),
        ("\n\nQ: only a run-on", ""),
    ],
)
def test_clean_completion(raw: str, clean: str) -> None:
    assert clean_completion(raw, "\n\nQ:") == clean


def _write_anli_copy(root: Path, rows: list[Any], completions: list[list[Any]]) -> None:
    folder = root / "distilling-step-by-step" / "anli1"
    (folder / "llm").mkdir(parents=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (folder / "anli1_train.json").write_text("\n".join(lines) + "\n")
    good = {"uid": "v1", "premise": "A cat sat.", "hypothesis": "An animal sat.", "label": 0}
    (folder / "anli1_test.json").write_text(json.dumps(good) + "\n")
    for i, chunk in enumerate(completions):
        (folder / "llm" / f"train_CoT_{i}.json").write_text(json.dumps(chunk))


def test_bad_rows_are_counted_by_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dss_module.BLOCK_SIZE, "anli1", 3)
    row = {"uid": "u0", "premise": "A man runs.", "hypothesis": "A person moves.", "label": 0}
    rows: list[Any] = [
        row,
        "{not json",
        {**row, "uid": "u2", "premise": "  "},
        {**row, "uid": "u3", "label": 7},
        {**row, "uid": "u4", "label": None},
        {**row, "uid": "u5", "label": "2"},
    ]
    completions = [
        ["Runs is moving. So the answer is entailment.\n\nPremise: made up", "x", "x"],
        ["x", "x", "\n\nPremise: nothing before the run-on"],
    ]
    _write_anli_copy(tmp_path, rows, completions)
    data = load_dss(DataConfig(task="anli1", source="dss", root=str(tmp_path)))
    assert [e.id for e in data.train] == ["u0", "u5"]
    assert data.train[1].label == "contradiction"
    assert dict(data.bad_rows.counts) == {
        "invalid JSON": 1,
        "empty premise": 1,
        "unparseable label": 1,
        "missing label": 1,
        "rationale skipped: empty": 1,  # u5's completion is only a run-on
    }
    assert [s.id for s in data.rationales] == ["u0"]
    assert data.rationales[0].rationales[0].text == "Runs is moving. So the answer is entailment."


def test_rationales_must_line_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dss_module.BLOCK_SIZE, "anli1", 2)
    row = {"uid": "u", "premise": "p", "hypothesis": "h", "label": 1}
    rows = [{**row, "uid": f"u{i}"} for i in range(3)]
    _write_anli_copy(tmp_path, rows, [["a", "b"]])  # 2 rationales for 3 rows
    with pytest.raises(DataError, match="2 train rationales for 3 rows"):
        load_dss(DataConfig(task="anli1", source="dss", root=str(tmp_path)))


def test_rationale_files_must_hold_full_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(dss_module.BLOCK_SIZE, "anli1", 2)
    row = {"uid": "u", "premise": "p", "hypothesis": "h", "label": 1}
    rows = [{**row, "uid": f"u{i}"} for i in range(3)]
    _write_anli_copy(tmp_path, rows, [["a"], ["b", "c"]])  # file 0 short, file 1 full
    with pytest.raises(DataError, match="every file but the last must hold exactly 2"):
        load_dss(DataConfig(task="anli1", source="dss", root=str(tmp_path)))

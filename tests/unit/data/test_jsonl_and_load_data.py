"""The generic JSONL source, and what load_data does for every source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qcrd.config import DataConfig, JsonlSource
from qcrd.data import DataError, carve_valid, load_data, load_jsonl, seeded_subset
from qcrd.data.records import BadRows, Example, LoadedData


def _write(path: Path, rows: list[Any]) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_bad_rows_are_counted_by_reason(tmp_path: Path) -> None:
    train = _write(
        tmp_path / "train.jsonl",
        [
            {"qid": "a", "question": "1 + 1?", "answer": "( 1.0 + 1.0 )", "why": ["1 + 1 = 2."]},
            {"qid": "b", "question": "2 + 2?", "answer": 4, "why": "2 + 2 = 4."},
            "{broken",
            "[1, 2]",
            {"qid": "c", "answer": "3"},
            {"qid": "d", "question": "   ", "answer": "3"},
            {"qid": "e", "question": "3?"},
            {"qid": "f", "question": "3?", "answer": "three"},
            {"qid": "g", "question": "3?", "answer": True},
            {"question": "no id", "answer": "3"},
            {"qid": "h", "question": "5?", "answer": "5", "why": [" ", "5."]},
            {"qid": "i", "question": "6?", "answer": "6", "why": {"not": "a list"}},
            {"qid": "j", "question": "7?", "answer": "7"},
        ],
    )
    test = _write(tmp_path / "test.jsonl", [{"qid": "t", "question": "9?", "answer": "9"}])
    spec = JsonlSource(
        train=train,
        test=test,
        id_field="qid",
        input_field="question",
        label_field="answer",
        rationales_field="why",
    )
    data = load_jsonl(DataConfig(task="svamp", source="jsonl", jsonl=spec))
    assert [e.id for e in data.train] == ["a", "b", "h", "i", "j"]
    assert data.train[1].label == "4"
    assert [e.id for e in data.test] == ["t"]
    assert data.valid == []
    assert dict(data.bad_rows.counts) == {
        "invalid JSON": 1,
        "not a JSON object": 1,
        "missing question": 1,
        "empty question": 1,
        "missing label": 2,  # absent, and a boolean
        "unparseable label": 1,
        "missing qid": 1,
        "rationale skipped: empty": 1,
        "rationale skipped: not a string or list of strings": 1,
    }
    assert {s.id: [r.text for r in s.rationales] for s in data.rationales} == {
        "a": ["1 + 1 = 2."],
        "b": ["2 + 2 = 4."],
        "h": ["5."],
    }
    assert data.rationales[0].rationales[0].source == "jsonl:train.jsonl"


def test_cqa_choices_come_from_the_rendered_input(tmp_path: Path) -> None:
    question = "Where do fish live?\nAnswer Choices:\n(a) tree\n(b) water\n(c) desk"
    rows = [{"input": question, "label": "Water"}, {"input": question, "label": "sea"}]
    spec = JsonlSource(train=_write(tmp_path / "cqa.jsonl", rows))
    data = load_jsonl(DataConfig(task="cqa", source="jsonl", jsonl=spec))
    assert [(e.id, e.label, e.choices) for e in data.train] == [
        ("train-0", "water", ("tree", "water", "desk"))
    ]
    assert dict(data.bad_rows.counts) == {"unparseable label": 1}


def test_relative_paths_fall_back_to_the_data_root(tmp_path: Path) -> None:
    _write(tmp_path / "mine.jsonl", [{"input": "premise: a\nhypothesis: b", "label": 1}])
    spec = JsonlSource(train="mine.jsonl")
    data = load_jsonl(DataConfig(task="anli1", source="jsonl", root=str(tmp_path), jsonl=spec))
    assert [e.label for e in data.train] == ["neutral"]
    with pytest.raises(DataError, match="found neither"):
        load_jsonl(DataConfig(task="anli1", source="jsonl", jsonl=JsonlSource(train="nope.jsonl")))


def _examples(prefix: str, n: int) -> list[Example]:
    return [Example(f"{prefix}{i}", f"q{i}", "1") for i in range(n)]


def test_seeded_subset_is_deterministic_and_ordered() -> None:
    examples = _examples("e", 50)
    first = seeded_subset(examples, 10, "0:train")
    assert first == seeded_subset(examples, 10, "0:train")
    assert first != seeded_subset(examples, 10, "1:train")
    assert [examples.index(e) for e in first] == sorted(examples.index(e) for e in first)
    assert seeded_subset(examples, None, "0") == examples
    assert seeded_subset(examples, 500, "0") == examples


def test_carve_valid() -> None:
    data = LoadedData(_examples("e", 100), [], _examples("t", 5), [], BadRows())
    carved = carve_valid(data, 0.1, seed=0)
    assert (len(carved.train), len(carved.valid)) == (90, 10)
    assert not {e.id for e in carved.train} & {e.id for e in carved.valid}
    assert len(carve_valid(data, 0.001, seed=0).valid) == 1  # a fraction > 0 holds out one
    assert carve_valid(data, 0.0, seed=0).valid == []


def test_load_data_limits_and_rationales(data_root: Path) -> None:
    cfg = DataConfig(
        task="svamp", source="mcckd", root=str(data_root), max_train=32, max_valid=8, max_test=16
    )
    data = load_data(cfg)
    assert (len(data.train), len(data.valid), len(data.test)) == (32, 8, 16)
    assert [s.id for s in data.rationales] == [e.id for e in data.train]
    assert [e.id for e in load_data(cfg).train] == [e.id for e in data.train]
    assert any("seeded subset of 32 of 700" in note for note in data.notes)


def test_load_data_drops_duplicate_ids_across_splits(tmp_path: Path) -> None:
    train = _write(
        tmp_path / "tr.jsonl",
        [{"id": "x", "input": "1?", "label": "1"}, {"id": "y", "input": "2?", "label": "2"}],
    )
    test = _write(
        tmp_path / "te.jsonl",
        [{"id": "x", "input": "1?", "label": "1"}, {"id": "z", "input": "3?", "label": "3"}],
    )
    spec = JsonlSource(train=train, test=test, id_field="id")
    data = load_data(DataConfig(task="svamp", source="jsonl", jsonl=spec, valid_fraction=0.0))
    assert [e.id for e in data.test] == ["z"]
    assert data.bad_rows.counts["duplicate id"] == 1


def test_load_data_refuses_an_empty_train(tmp_path: Path) -> None:
    spec = JsonlSource(train=_write(tmp_path / "tr.jsonl", [{"input": "1?", "label": "one"}]))
    with pytest.raises(DataError, match="no usable train examples"):
        load_data(DataConfig(task="svamp", source="jsonl", jsonl=spec))

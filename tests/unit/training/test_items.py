"""What each method learns from: the filter stage's rows joined to the train split."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcrd.config import QcrdConfig, TrainConfig
from qcrd.data.records import Example, write_jsonl
from qcrd.training.items import LABEL_MARKER, build_items, label_part, single_task_target

EXAMPLES = [
    Example(id="q1", input="2 + 3?", label="( 2.0 + 3.0 )"),
    Example(id="q2", input="7 - 1?", label="( 7.0 - 1.0 )"),
    Example(id="q3", input="4 * 2?", label="( 4.0 * 2.0 )"),
]
FILTER_ROWS = [
    # q1: two self-consistent positives; the first raw sample was the wrong one.
    {
        "id": "q1",
        "positives": ["2 + 3 = 5", "add: 5"],
        "teacher_negatives": ["2 + 3 = 6"],
        "first_sample": "2 + 3 = 6",
    },
    # q2: no positive survived the vote; the first sample is still there for DSS.
    {"id": "q2", "positives": [], "teacher_negatives": ["7 - 1 = 5"], "first_sample": "7 - 1 = 5"},
    # q3: absent from the filter output (every teacher request failed).
]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    data, filt = tmp_path / "data", tmp_path / "filter"
    data.mkdir()
    filt.mkdir()
    write_jsonl(data / "train.jsonl", (e.to_json() for e in EXAMPLES))
    write_jsonl(filt / "train.jsonl", FILTER_ROWS)
    return data, filt


def _view(items: list) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(it.example.id, it.positives, it.teacher_negatives) for it in items]


def test_ft_learns_labels_only(dirs: tuple[Path, Path]) -> None:
    data, filt = dirs
    items = build_items(TrainConfig(method="ft"), data, filt)
    assert [it.example for it in items] == EXAMPLES
    assert _view(items) == [("q1", (), ()), ("q2", (), ()), ("q3", (), ())]


@pytest.mark.parametrize("method", ["dss", "single_task"])
def test_dss_and_single_task_take_the_first_unfiltered_sample(
    dirs: tuple[Path, Path], method: str
) -> None:
    data, filt = dirs
    items = build_items(TrainConfig(method=method), data, filt)  # type: ignore[arg-type]
    assert _view(items) == [
        ("q1", ("2 + 3 = 6",), ()),  # wrong, and kept: DSS does not filter
        ("q2", ("7 - 1 = 5",), ()),
        ("q3", (), ()),
    ]


def test_qcrd_takes_the_filtered_positives_and_teacher_negatives(dirs: tuple[Path, Path]) -> None:
    data, filt = dirs
    items = build_items(TrainConfig(method="qcrd"), data, filt)
    assert _view(items) == [
        ("q1", ("2 + 3 = 5", "add: 5"), ("2 + 3 = 6",)),
        ("q2", (), ("7 - 1 = 5",)),
        ("q3", (), ()),
    ]


def test_qcrd_without_ensemble_positives_uses_the_first_sample(dirs: tuple[Path, Path]) -> None:
    data, filt = dirs
    cfg = TrainConfig(method="qcrd", qcrd=QcrdConfig(ensemble_positives=False))
    # The first sample is the positive, so it is no teacher negative too (for the judge and
    # for negative_source=teacher it would be pulled toward and pushed away at once).
    assert _view(build_items(cfg, data, filt)) == [
        ("q1", ("2 + 3 = 6",), ()),
        ("q2", ("7 - 1 = 5",), ()),
        ("q3", (), ()),
    ]


def test_no_filter_output_means_labels_only(dirs: tuple[Path, Path]) -> None:
    data, _ = dirs
    assert _view(build_items(TrainConfig(method="dss"), data, None))[0] == ("q1", (), ())


def test_single_task_target_and_label_part_invert_each_other() -> None:
    target = single_task_target("2 + 3 = 5", "( 2.0 + 3.0 )")
    assert target == f"2 + 3 = 5{LABEL_MARKER}( 2.0 + 3.0 )"
    assert label_part(target) == "( 2.0 + 3.0 )"
    no_rationale = single_task_target(None, "( 2.0 + 3.0 )")
    assert no_rationale == "Label: ( 2.0 + 3.0 )"
    assert label_part(no_rationale) == "( 2.0 + 3.0 )"
    assert label_part("( 1.0 + 1.0 )") == "( 1.0 + 1.0 )"  # no marker: the whole output

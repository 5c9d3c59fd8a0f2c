"""MCC-KD's SVAMP data (Chen et al., 2023): ten GPT-3.5-turbo rationales per train question.

Files under ``<root>/MCC-KD/data/SVAMP/``: ``train.json`` (700 ``{instruction, output: [10
rationales], label: "32"}``), ``dev.json`` and ``test.json`` (150 each, no rationales), all JSON
arrays. MCC-KD's own split is kept (train, dev -> valid, test); it differs from the Distilling
step-by-step split, so the two must never be mixed.

MCC-KD labels are plain numbers, but our SVAMP label is the equation. Every question is
joined to ``distilling-step-by-step/svamp/SVAMP.json`` on the whitespace-collapsed,
lower-cased ``Body + " " + Question``; the Example takes SVAMP's id (``chal-17``), its
equation, and its input rendered as the Distilling step-by-step files do (``Body\\nQuestion``,
whereas the teacher saw ``Body Question``). An unjoined question is a bad row; an MCC-KD label
that disagrees with the equation's value is noted (the equation stays the gold label).

The ten rationales keep their file order, which puts correct ones first: the teacher's replay
backend draws the seeded subset of K, never the loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from qcrd.config import DataConfig
from qcrd.data.jsonl import (
    DataError,
    build_example,
    data_root,
    label_text,
    rationale_texts,
    read_json_array,
    text_field,
)
from qcrd.data.records import BadRows, Example, LoadedData, Rationale, RationaleSet
from qcrd.tasks import SvampTask
from qcrd.tasks.svamp import render_input

MCCKD_FOLDER = Path("MCC-KD/data/SVAMP")
SVAMP_JSON = Path("distilling-step-by-step/svamp/SVAMP.json")
SOURCE_TAG = "mcckd:gpt-3.5-turbo"
SPLIT_FILES = {"train": "train.json", "valid": "dev.json", "test": "test.json"}
_SVAMP_FIELDS = ("ID", "Body", "Question", "Equation")


class SvampProblem(NamedTuple):
    id: str
    body: str
    question: str
    equation: str


def join_key(text: str) -> str:
    """The text both files agree on: whitespace collapsed, lower-cased."""
    return " ".join(text.split()).lower()


def read_svamp_problems(path: Path, bad: BadRows) -> dict[str, SvampProblem]:
    """SVAMP.json's 1,000 problems by join key (a malformed entry is counted, not joined)."""
    problems: dict[str, SvampProblem] = {}
    for index, row in enumerate(read_json_array(path)):
        where = f"{path}[{index}]"
        raw = [row.get(k) if isinstance(row, dict) else None for k in _SVAMP_FIELDS]
        fields = [v.strip() for v in raw if isinstance(v, str) and v.strip()]
        if len(fields) != len(_SVAMP_FIELDS):
            bad.add("SVAMP.json entry malformed", where)
            continue
        problem = SvampProblem(*fields)
        problems[join_key(f"{problem.body} {problem.question}")] = problem
    return problems


def _find_problem(
    row: Any, problems: dict[str, SvampProblem], bad: BadRows, where: str
) -> SvampProblem | None:
    if not isinstance(row, dict):
        bad.add("not a JSON object", where)
        return None
    instruction = text_field(row, "instruction", bad, where)
    if instruction is None:
        return None
    problem = problems.get(join_key(instruction))
    if problem is None:
        bad.add("question not in SVAMP.json", where)
    return problem


def _joined_example(
    task: SvampTask, problem: SvampProblem, bad: BadRows, where: str
) -> Example | None:
    return build_example(
        task,
        example_id=problem.id,
        task_input=render_input(problem.body, problem.question),
        raw_label=problem.equation,
        choices=(),
        bad=bad,
        where=f"{where} ({problem.id})",
    )


def _label_disagrees(task: SvampTask, row: dict[str, Any], example: Example) -> bool:
    """Whether MCC-KD's numeric label differs from the value of SVAMP's equation.

    It happens once (chal-680: SVAMP.json's own Answer field, which MCC-KD copied, says 1;
    the equation says 5). The equation is the gold label, so the row is kept and noted.
    """
    label = label_text(row.get("label"))
    try:
        return label is None or task.label_answer(label) != task.label_answer(example.label)
    except ValueError:
        return True


def load_mcckd(cfg: DataConfig) -> LoadedData:
    """Load MCC-KD's SVAMP split with its ten rationales per train question.

    Returns:
        train/valid/test Examples (ids and equations from SVAMP.json) and one RationaleSet of
        up to ten rationales per train question; a note gives the join rate.

    Raises:
        DataError: the task is not svamp, or a file is missing or not a JSON array.
    """
    if cfg.task != "svamp":
        raise DataError(
            f"data.source=mcckd has SVAMP only, not {cfg.task!r}: use data.source=dss or hub"
        )
    task = SvampTask()
    root = data_root(cfg)
    bad = BadRows()
    problems = read_svamp_problems(root / SVAMP_JSON, bad)
    splits: dict[str, list[Example]] = {}
    rationale_sets: list[RationaleSet] = []
    seen: set[str] = set()
    rows_total = joined = 0
    disagreeing: list[str] = []
    for split, name in SPLIT_FILES.items():
        path = root / MCCKD_FOLDER / name
        rows = read_json_array(path)
        rows_total += len(rows)
        splits[split] = []
        for index, row in enumerate(rows):
            where = f"{path}[{index}]"
            problem = _find_problem(row, problems, bad, where)
            if problem is None:
                continue
            joined += 1
            example = _joined_example(task, problem, bad, where)
            if example is None:
                continue
            if example.id in seen:
                bad.add("duplicate id", where)
                continue
            seen.add(example.id)
            splits[split].append(example)
            if _label_disagrees(task, row, example):
                disagreeing.append(example.id)
            if split == "train":
                texts = rationale_texts(row.get("output"), bad, where)
                if not texts:
                    continue
                rationales = tuple(Rationale(t, SOURCE_TAG) for t in texts)
                rationale_sets.append(RationaleSet(example.id, rationales))
    notes = [
        f"mcckd: joined {joined}/{rows_total} questions to {SVAMP_JSON} "
        f"({joined / max(rows_total, 1):.1%}); MCC-KD's train/dev/test kept as train/valid/test"
    ]
    if disagreeing:
        notes.append(
            f"mcckd: {len(disagreeing)} MCC-KD label(s) disagree with the SVAMP equation's "
            f"value ({', '.join(disagreeing[:5])}); the equation is the gold label"
        )
    return LoadedData(
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        rationales=rationale_sets,
        bad_rows=bad,
        notes=notes,
    )

"""The Hugging Face Hub source, and the conversion of Hub-shaped rows into Examples.

Default data sets (``data.hub_name`` overrides, as ``name`` or ``name:config``):

    svamp  ChilleD/SVAMP            train -> train, test -> test (valid carved from train)
    cqa    Salesforce/cos_e v1.11   train -> train, validation -> test (as Distilling
                                    step-by-step does; valid carved from train)
    anli1  facebook/anli            train_r1 / dev_r1 / test_r1 -> train / valid / test
    esnli  esnli                    train / validation / test

(``Salesforce/cos_e`` and ``facebook/anli`` are where the Hub now keeps ``cos_e`` and
``anli``.) The Hub gives no teacher rationales: pair this source with a generating teacher.

The Distilling step-by-step files are these same rows written with ``Dataset.to_json`` (plus
its own ``{input, label}`` SVAMP form), so :func:`example_from_row` serves both loaders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qcrd.config import DATA_ROOT_ENV, DataConfig
from qcrd.data.jsonl import DataError, build_example, text_field
from qcrd.data.records import BadRows, Example, LoadedData
from qcrd.tasks import Task, get_task
from qcrd.tasks import cqa as cqa_task
from qcrd.tasks import nli as nli_task
from qcrd.tasks import svamp as svamp_task

HUB_DEFAULTS: dict[str, tuple[str, str | None]] = {
    "svamp": ("ChilleD/SVAMP", None),
    "cqa": ("Salesforce/cos_e", "v1.11"),
    "anli1": ("facebook/anli", None),
    "esnli": ("esnli", None),
}
HUB_SPLITS: dict[str, dict[str, str]] = {
    "svamp": {"train": "train", "test": "test"},
    "cqa": {"train": "train", "test": "validation"},
    "anli1": {"train": "train_r1", "valid": "dev_r1", "test": "test_r1"},
    "esnli": {"train": "train", "valid": "validation", "test": "test"},
}


def hub_id(cfg: DataConfig) -> tuple[str, str | None]:
    """(data set id, config name) from ``data.hub_name`` or the task's default."""
    if cfg.hub_name:
        name, _, config = cfg.hub_name.partition(":")
        return name, config or None
    return HUB_DEFAULTS[cfg.task]


def _svamp_fields(
    row: Mapping[str, Any], split: str, index: int, bad: BadRows, where: str
) -> tuple[str | None, str | None, Any]:
    if "input" in row:  # the Distilling step-by-step form: {input, label}, no id
        return f"{split}-{index}", text_field(row, "input", bad, where), row.get("label")
    body = text_field(row, "Body", bad, where)
    question = text_field(row, "Question", bad, where)
    task_input = None
    if body is not None and question is not None:
        task_input = svamp_task.render_input(body, question)
    example_id = row.get("ID")
    return (str(example_id) if example_id else f"{split}-{index}"), task_input, row.get("Equation")


def _nli_fields(
    row: Mapping[str, Any], split: str, index: int, bad: BadRows, where: str
) -> tuple[str | None, str | None, Any]:
    premise = text_field(row, "premise", bad, where)
    hypothesis = text_field(row, "hypothesis", bad, where)
    task_input = None
    if premise is not None and hypothesis is not None:
        task_input = nli_task.render_input(premise, hypothesis)
    # e-SNLI has no id column; ANLI has "uid".
    example_id = str(row["uid"]) if row.get("uid") else f"{split}-{index}"
    return example_id, task_input, row.get("label")


def example_from_row(
    task: Task, row: Mapping[str, Any], split: str, index: int, bad: BadRows, where: str
) -> Example | None:
    """One Example from a Hub-shaped row of any task, or ``None`` with the reason counted.

    Rows: svamp ``{ID, Body, Question, Equation}`` or ``{input, label}``; cqa ``{id, question,
    choices, answer}``; NLI ``{uid?, premise, hypothesis, label 0/1/2}`` (``-1``, SNLI's "no
    gold label", is counted as such).
    """
    choices: tuple[str, ...] = ()
    if task.name == "svamp":
        example_id, task_input, raw_label = _svamp_fields(row, split, index, bad, where)
    elif task.name == "cqa":
        example_id = text_field(row, "id", bad, where)
        question = text_field(row, "question", bad, where)
        raw_choices = row.get("choices")
        if not (
            isinstance(raw_choices, list)
            and 2 <= len(raw_choices) <= len(cqa_task.LETTERS)
            and all(isinstance(c, str) and c.strip() for c in raw_choices)
        ):
            bad.add("malformed choices", where)
            return None
        choices = tuple(c.strip() for c in raw_choices)
        task_input = None if question is None else cqa_task.render_input(question, choices)
        raw_label = row.get("answer")
    else:
        example_id, task_input, raw_label = _nli_fields(row, split, index, bad, where)
        if raw_label == -1:
            bad.add("no gold label", where)
            return None
    if example_id is None or task_input is None:
        return None
    return build_example(
        task,
        example_id=example_id,
        task_input=task_input,
        raw_label=raw_label,
        choices=choices,
        bad=bad,
        where=where,
    )


def convert_rows(
    task: Task, rows: Iterable[Mapping[str, Any]], split: str, bad: BadRows, source: str
) -> list[Example]:
    """Examples from Hub rows (a ``datasets.Dataset`` iterates as dicts); bad rows counted."""
    examples = []
    for index, row in enumerate(rows):
        example = example_from_row(task, row, split, index, bad, f"{source}[{split}][{index}]")
        if example is not None:
            examples.append(example)
    return examples


def _offline_message(name: str, config: str | None, hub_split: str, err: Exception) -> str:
    what = f"{name}" + (f" ({config})" if config else "")
    return (
        f"cannot load the Hugging Face data set {what}, split {hub_split}: {err}. Without "
        "internet (or with HF_HUB_OFFLINE=1 and nothing cached), load local files instead: "
        f"data.source=dss|mcckd|jsonl with data.root=PATH or ${DATA_ROOT_ENV} pointing at the "
        "folder that holds distilling-step-by-step/ and MCC-KD/"
    )


def load_hub(cfg: DataConfig) -> LoadedData:
    """Load the task's splits through ``datasets.load_dataset`` (network or local cache).

    Raises:
        DataError: the data set cannot be reached, with how to use local files instead.
    """
    import datasets  # heavy, and only this source needs it

    task = get_task(cfg.task)
    name, config = hub_id(cfg)
    bad = BadRows()
    splits: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    for split, hub_split in HUB_SPLITS[cfg.task].items():
        try:
            rows = datasets.load_dataset(name, config, split=hub_split)
        # ConnectionError (offline), FileNotFoundError (no such data set), ValueError (no
        # such split or config): all mean "not loadable as configured".
        except (OSError, ValueError) as err:
            raise DataError(_offline_message(name, config, hub_split, err)) from err
        splits[split] = convert_rows(task, rows, split, bad, name)
    return LoadedData(
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        rationales=[],
        bad_rows=bad,
        notes=[f"hub: {name}" + (f" ({config})" if config else "") + ", no teacher rationales"],
    )

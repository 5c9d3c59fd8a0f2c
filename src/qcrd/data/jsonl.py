"""Reading JSON data files, shared by every loader, and the generic JSON-lines source.

The helpers here turn raw rows into validated :class:`Example` objects: a row with a missing
field, empty text or an unreadable label is counted in :class:`BadRows` by reason and skipped,
never raised and never dropped silently. Whole-file problems (a missing file, a rationale file
that is not a JSON array) are :class:`DataError` s: they mean the data set is not the one we
think it is.

Generic source (``data.source=jsonl``): one JSON-lines file per split, named in
``data.jsonl.{train,valid,test}``; relative paths are tried against the working directory and
then against the data root. Each row needs ``input_field`` and ``label_field``; ``id_field``
is optional (default id ``<split>-<row index>``); ``rationales_field`` (train only) holds a
list of strings or one string. CQA inputs carry their choices in the rendered input
(``Answer Choices:`` lines), so no separate field is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qcrd.config import DATA_ROOT_ENV, DataConfig
from qcrd.data.records import BadRows, Example, LoadedData, Rationale, RationaleSet
from qcrd.tasks import Task, get_task
from qcrd.tasks.cqa import parse_choices

JSONL_SOURCE_TAG = "jsonl"


class DataError(RuntimeError):
    """A data set that cannot be loaded as configured (the message says what to change)."""


def data_root(cfg: DataConfig) -> Path:
    """The configured data root, which must exist.

    Raises:
        DataError: naming ``data.root`` and ``$QCRD_DATA_ROOT`` if the folder is missing.
    """
    root = cfg.resolved_root()
    if not root.is_dir():
        raise DataError(
            f"data root {root} does not exist (resolved from the working directory "
            f"{Path.cwd()}): set data.root=PATH or ${DATA_ROOT_ENV} to the folder holding "
            "distilling-step-by-step/ and MCC-KD/"
        )
    return root


def read_json_lines(path: Path, bad: BadRows) -> list[dict[str, Any] | None]:
    """The rows of a JSON-lines file; a line that is not a JSON object is counted and ``None``.

    ``None`` keeps the row's place, because teacher rationale files are aligned by row index.
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rows: list[dict[str, Any] | None] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad.add("invalid JSON", f"{path}:{lineno}")
                rows.append(None)
                continue
            if not isinstance(row, dict):
                bad.add("not a JSON object", f"{path}:{lineno}")
                row = None
            rows.append(row)
    return rows


def read_json_array(path: Path) -> list[Any]:
    """A file holding one JSON array (raises :class:`DataError` otherwise)."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(value, list):
        raise DataError(f"{path}: expected a JSON array, found {type(value).__name__}")
    return value


def text_field(row: Mapping[str, Any], key: str, bad: BadRows, where: str) -> str | None:
    """``row[key]`` stripped, or ``None`` (counted as "missing KEY" / "empty KEY")."""
    value = row.get(key)
    if not isinstance(value, str):
        bad.add(f"missing {key}", where)
        return None
    if not value.strip():
        bad.add(f"empty {key}", where)
        return None
    return value.strip()


def label_text(value: Any) -> str | None:
    """A raw label as text: strings as they are, integers and floats written out."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def build_example(
    task: Task,
    *,
    example_id: str,
    task_input: str,
    raw_label: Any,
    choices: tuple[str, ...],
    bad: BadRows,
    where: str,
) -> Example | None:
    """An Example with the task's canonical label, or ``None`` with the reason counted."""
    label = label_text(raw_label)
    if label is None or not label.strip():
        bad.add("missing label", where)
        return None
    try:
        canonical = task.canonical_label(label, choices)
    except ValueError:
        bad.add("unparseable label", where)
        return None
    return Example(id=example_id, input=task_input, label=canonical, choices=choices)


def rationale_texts(value: Any, bad: BadRows, where: str) -> list[str] | None:
    """A rationales field as a list of non-empty strings (one string is a list of one).

    Empty items are counted and dropped; a field of another shape gives ``None``, counted.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        bad.add("rationale skipped: not a string or list of strings", where)
        return None
    texts = [t.strip() for t in items if t.strip()]
    for _ in range(len(items) - len(texts)):
        bad.add("rationale skipped: empty", where)
    return texts


def _resolve(name: str, cfg: DataConfig) -> Path:
    path = Path(name).expanduser()
    if path.is_absolute() or path.is_file():
        return path
    under_root = cfg.resolved_root() / path
    if under_root.is_file():
        return under_root
    raise DataError(f"data.jsonl file {name!r} found neither in {Path.cwd()} nor in {under_root}")


def _split_rows(
    task: Task, cfg: DataConfig, split: str, path: Path, bad: BadRows
) -> tuple[list[Example], list[RationaleSet]]:
    spec = cfg.jsonl
    examples: list[Example] = []
    rationale_sets: list[RationaleSet] = []
    for index, row in enumerate(read_json_lines(path, bad)):
        where = f"{path}:row {index}"
        if row is None:
            continue
        example_id = str(row.get(spec.id_field, "")) if spec.id_field else f"{split}-{index}"
        if not example_id:
            bad.add(f"missing {spec.id_field}", where)
            continue
        task_input = text_field(row, spec.input_field, bad, where)
        if task_input is None:
            continue
        choices = parse_choices(task_input) if task.name == "cqa" else ()
        example = build_example(
            task,
            example_id=example_id,
            task_input=task_input,
            raw_label=row.get(spec.label_field),
            choices=choices,
            bad=bad,
            where=where,
        )
        if example is None:
            continue
        examples.append(example)
        if split == "train" and spec.rationales_field and spec.rationales_field in row:
            texts = rationale_texts(row[spec.rationales_field], bad, where)
            if texts:
                source = f"{JSONL_SOURCE_TAG}:{path.name}"
                rationales = tuple(Rationale(t, source) for t in texts)
                rationale_sets.append(RationaleSet(example.id, rationales))
    return examples, rationale_sets


def load_jsonl(cfg: DataConfig) -> LoadedData:
    """Load the JSON-lines files named in ``cfg.jsonl`` (see the module docstring).

    Returns:
        The splits found (``valid`` empty when no file is named) and train rationales.
    """
    task = get_task(cfg.task)
    bad = BadRows()
    splits: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    rationale_sets: list[RationaleSet] = []
    notes = []
    for split in splits:
        name = getattr(cfg.jsonl, split)
        if name is None:
            continue
        path = _resolve(name, cfg)
        splits[split], found = _split_rows(task, cfg, split, path, bad)
        rationale_sets += found
        notes.append(f"jsonl: {split} from {path}")
    return LoadedData(
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        rationales=rationale_sets,
        bad_rows=bad,
        notes=notes,
    )

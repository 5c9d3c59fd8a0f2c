"""The Distilling step-by-step data layout (Hsieh et al., 2023), with its PaLM-540B rationales.

Layout under ``<root>/distilling-step-by-step/<ds>/``::

    <ds>_{train,valid,test}.json     JSON lines (valid only for anli1)
    llm/<split>_CoT_<i>.json         JSON arrays of raw PaLM completions; file i covers rows
                                     [i*B, (i+1)*B), B = 500 svamp, 1000 cqa, 5000 anli1

A raw completion is the rationale, the answer sentence, then PaLM's invented next few-shot
example. :func:`clean_completion` cuts the run-on and keeps the answer sentence ("The answer
is (84 / 2).") because the filter stage reads the teacher's answer from it. One rationale per
train input; valid and test completions are not used (the student never sees them).

Ids: svamp rows have none, so ``<split>-<row index>``; cqa uses ``id``, anli1 ``uid``.
The loader returns ``valid`` empty when there is no valid file; :func:`qcrd.data.load_data`
then carves one out of train.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qcrd.config import DataConfig
from qcrd.data.hub import example_from_row
from qcrd.data.jsonl import DataError, data_root, read_json_array, read_json_lines
from qcrd.data.records import BadRows, Example, LoadedData, Rationale, RationaleSet
from qcrd.tasks import Task, get_task

DSS_FOLDER = "distilling-step-by-step"
SOURCE_TAG = "dss:palm-540b"
BLOCK_SIZE = {"svamp": 500, "cqa": 1000, "anli1": 5000}
RUN_ON_MARKER = {"svamp": "\n\nQ:", "cqa": "\n\nQ:", "anli1": "\n\nPremise:"}
_COT_FILE = re.compile(r"^(train|valid|test)_CoT_(\d+)\.json$", re.ASCII)


def clean_completion(text: str, marker: str) -> str:
    """The rationale part of a raw PaLM completion, answer sentence included.

    Cuts at the first ``marker`` (the start of an invented next example) and also drops a
    marker that the token limit truncated at the very end ("...(3 - 2).\\n\\nQ").
    """
    head = text.split(marker, 1)[0]
    for size in range(len(marker) - 1, 0, -1):
        if head.endswith(marker[:size]):
            head = head[:-size]
            break
    return head.strip()


def read_palm_completions(llm_dir: Path, split: str, block: int) -> list[Any]:
    """All raw completions of a split, in row order, checking the file-per-block layout.

    Raises:
        DataError: no files, a gap in the file numbers, or a file of the wrong length.
    """
    numbered = {}
    for path in llm_dir.glob(f"{split}_CoT_*.json"):
        match = _COT_FILE.match(path.name)
        if match:
            numbered[int(match.group(2))] = path
    if not numbered:
        raise DataError(f"no PaLM rationale files {llm_dir}/{split}_CoT_<i>.json")
    if sorted(numbered) != list(range(len(numbered))):
        raise DataError(f"{llm_dir}: {split}_CoT files are not numbered 0..{len(numbered) - 1}")
    completions: list[Any] = []
    for i in range(len(numbered)):
        chunk = read_json_array(numbered[i])
        is_last = i == len(numbered) - 1
        if len(chunk) > block or (not is_last and len(chunk) != block) or not chunk:
            raise DataError(
                f"{numbered[i]} holds {len(chunk)} completions; every file but the last must "
                f"hold exactly {block} (rows [{i * block}, {(i + 1) * block}))"
            )
        completions += chunk
    return completions


def _split_examples(task: Task, path: Path, split: str, bad: BadRows) -> list[Example | None]:
    """Examples aligned with the file's rows (``None`` where a row was bad)."""
    return [
        None if row is None else example_from_row(task, row, split, i, bad, f"{path}:row {i}")
        for i, row in enumerate(read_json_lines(path, bad))
    ]


def _train_rationales(
    aligned: list[Example | None], completions: list[Any], marker: str, bad: BadRows, where: str
) -> list[RationaleSet]:
    sets = []
    for index, (example, raw) in enumerate(zip(aligned, completions, strict=True)):
        if example is None:
            continue
        text = clean_completion(raw, marker) if isinstance(raw, str) else ""
        if not text:
            bad.add("rationale skipped: empty", f"{where}[{index}]")
            continue
        sets.append(RationaleSet(example.id, (Rationale(text, SOURCE_TAG),)))
    return sets


def load_dss(cfg: DataConfig) -> LoadedData:
    """Load svamp, cqa or anli1 from the Distilling step-by-step folder.

    Returns:
        train/test (and anli1's valid) Examples, one PaLM rationale per train input.

    Raises:
        DataError: the task is not in the folder (e-SNLI), a split file is missing (anli1
            train is absent from the shared copy), or the rationale files do not line up.
    """
    if cfg.task not in BLOCK_SIZE:
        raise DataError(
            f"task {cfg.task!r} is not in the {DSS_FOLDER} data (it has svamp, cqa, anli1): "
            "use data.source=hub, or data.source=jsonl with local files"
        )
    task = get_task(cfg.task)
    folder = data_root(cfg) / DSS_FOLDER / cfg.task
    train_path = folder / f"{cfg.task}_train.json"
    if not train_path.is_file():
        raise DataError(
            f"{train_path} is missing (the shared copy of the {DSS_FOLDER} data lacks the "
            f"{cfg.task} train split; its PaLM rationales are present). Use data.source=hub "
            "(needs internet), or write the split there as JSON lines (Hugging Face "
            "Dataset.to_json) and rerun"
        )
    bad = BadRows()
    train_aligned = _split_examples(task, train_path, "train", bad)
    completions = read_palm_completions(folder / "llm", "train", BLOCK_SIZE[cfg.task])
    if len(completions) != len(train_aligned):
        raise DataError(
            f"{folder / 'llm'}: {len(completions)} train rationales for "
            f"{len(train_aligned)} rows in {train_path.name}; they must line up row by row"
        )
    rationales = _train_rationales(
        train_aligned, completions, RUN_ON_MARKER[cfg.task], bad, str(folder / "llm")
    )
    splits: dict[str, list[Example]] = {"valid": [], "test": []}
    notes = [f"dss: {cfg.task} from {folder}, one PaLM-540B rationale per train input"]
    for split in splits:
        path = folder / f"{cfg.task}_{split}.json"
        if path.is_file():
            splits[split] = [e for e in _split_examples(task, path, split, bad) if e]
        elif split == "test":
            raise DataError(f"{path} is missing")
    return LoadedData(
        train=[e for e in train_aligned if e],
        valid=splits["valid"],
        test=splits["test"],
        rationales=rationales,
        bad_rows=bad,
        notes=notes,
    )

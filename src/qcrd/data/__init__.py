"""Data loaders: every source becomes the same :class:`LoadedData`.

    data = load_data(DataConfig(task="svamp", source="mcckd", max_train=64))

Sources (``data.source``): ``dss`` (Distilling step-by-step files with PaLM rationales),
``mcckd`` (SVAMP with ten GPT-3.5 rationales per question), ``hub`` (Hugging Face, no
rationales), ``jsonl`` (your own files). :func:`load_data` then applies what every source
shares: ids unique across splits, a valid split carved from train when the source has none,
seeded ``max_*`` subsets, and rationales kept only for the train ids that remain.
"""

from __future__ import annotations

import random
from dataclasses import replace

from qcrd.config import DataConfig
from qcrd.data.dss import load_dss
from qcrd.data.hub import load_hub
from qcrd.data.jsonl import DataError, load_jsonl
from qcrd.data.mcckd import load_mcckd
from qcrd.data.records import BadRows, Example, LoadedData, RationaleSet

__all__ = [
    "DataError",
    "carve_valid",
    "load_data",
    "load_dss",
    "load_hub",
    "load_jsonl",
    "load_mcckd",
    "seeded_subset",
]


def seeded_subset(examples: list[Example], size: int | None, seed: str) -> list[Example]:
    """``size`` examples drawn with ``random.Random(seed)``, in their original order."""
    if size is None or size >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), size))
    return [examples[i] for i in keep]


def carve_valid(data: LoadedData, fraction: float, seed: int) -> LoadedData:
    """Move a seeded ``fraction`` of train into valid (at least one when fraction > 0)."""
    n = len(data.train)
    size = round(n * fraction)
    if fraction > 0 and n > 1:
        size = max(size, 1)
    held = {e.id for e in seeded_subset(data.train, size, f"{seed}:carve-valid")} if size else set()
    note = (
        f"valid: the source has none; {len(held)} of {n} train examples held out "
        f"(data.valid_fraction={fraction}, data.seed={seed})"
        if held
        else f"valid: the source has none and data.valid_fraction={fraction} holds out nothing"
    )
    return replace(
        data,
        train=[e for e in data.train if e.id not in held],
        valid=[e for e in data.train if e.id in held],
        notes=[*data.notes, note],
    )


def _unique_ids(data: LoadedData) -> LoadedData:
    """Keep the first example of each id across train, valid, test; count the others."""
    seen: set[str] = set()
    bad = BadRows(data.bad_rows.counts.copy(), dict(data.bad_rows.examples))
    splits: dict[str, list[Example]] = {}
    for split in ("train", "valid", "test"):
        kept = []
        for example in getattr(data, split):
            if example.id in seen:
                bad.add("duplicate id", f"{split}: {example.id}")
                continue
            seen.add(example.id)
            kept.append(example)
        splits[split] = kept
    return replace(
        data, train=splits["train"], valid=splits["valid"], test=splits["test"], bad_rows=bad
    )


def load_data(cfg: DataConfig) -> LoadedData:
    """Load ``cfg.task`` from ``cfg.source`` and apply the shared steps (module docstring).

    Raises:
        DataError: the source cannot be loaded as configured, or no train example survives.
    """
    if cfg.source == "dss":
        data = load_dss(cfg)
    elif cfg.source == "mcckd":
        data = load_mcckd(cfg)
    elif cfg.source == "hub":
        data = load_hub(cfg)
    elif cfg.source == "jsonl":
        data = load_jsonl(cfg)
    else:
        raise DataError(f"unknown data.source {cfg.source!r}")
    data = _unique_ids(data)
    if not data.train:
        raise DataError(
            f"no usable train examples from data.source={cfg.source} "
            f"(bad rows by reason: {dict(data.bad_rows.counts)})"
        )
    if not data.valid:
        data = carve_valid(data, cfg.valid_fraction, cfg.seed)
    notes = list(data.notes)
    limits = {"train": cfg.max_train, "valid": cfg.max_valid, "test": cfg.max_test}
    subsets: dict[str, list[Example]] = {}
    for split, size in limits.items():
        full = getattr(data, split)
        subsets[split] = seeded_subset(full, size, f"{cfg.seed}:{split}")
        if len(subsets[split]) < len(full):
            notes.append(f"{split}: seeded subset of {len(subsets[split])} of {len(full)}")
    train_ids = {e.id for e in subsets["train"]}
    rationales: list[RationaleSet] = []
    seen: set[str] = set()
    for rationale_set in data.rationales:
        if rationale_set.id in train_ids and rationale_set.id not in seen:
            seen.add(rationale_set.id)
            rationales.append(rationale_set)
    return replace(
        data,
        train=subsets["train"],
        valid=subsets["valid"],
        test=subsets["test"],
        rationales=rationales,
        notes=notes,
    )

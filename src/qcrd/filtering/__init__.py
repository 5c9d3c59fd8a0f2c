"""Self-consistency denoising of teacher rationales (method.md §1.2).

- :mod:`qcrd.filtering.consistency`: per-input vote, keep policy, duplicate removal.
- :mod:`qcrd.filtering.stats`: run statistics (accuracy, kept counts, diversity).
- :mod:`qcrd.filtering.stage`: the ``filter`` stage over a run directory.
"""

from qcrd.filtering.consistency import (
    Deduped,
    FilteredExample,
    KeepPolicy,
    deduplicate,
    filter_example,
    majority_vote,
)
from qcrd.filtering.stage import run_filter_stage
from qcrd.filtering.stats import FilterStats, compute_stats

__all__ = [
    "Deduped",
    "FilterStats",
    "FilteredExample",
    "KeepPolicy",
    "compute_stats",
    "deduplicate",
    "filter_example",
    "majority_vote",
    "run_filter_stage",
]

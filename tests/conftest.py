"""Shared fixtures: where the real data sets live.

The data root is ``$QCRD_DATA_ROOT`` or the ``shared/data`` folder beside the checkout
(``<checkout>/../shared/data``). Tests that need it fail, loudly, when it is missing: a
skipped data test would let a broken loader pass unnoticed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qcrd.config import DATA_ROOT_ENV

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding distilling-step-by-step/ and MCC-KD/."""
    env = os.environ.get(DATA_ROOT_ENV)
    root = Path(env).expanduser() if env else CHECKOUT.parent / "shared" / "data"
    if not (root / "distilling-step-by-step").is_dir() or not (root / "MCC-KD").is_dir():
        pytest.fail(
            f"data root {root} lacks distilling-step-by-step/ or MCC-KD/: set ${DATA_ROOT_ENV} "
            "to the shared data folder (see shared/data/README.md)",
            pytrace=False,
        )
    return root

"""Shared fixtures: where the real data sets live.

The data root is ``$QCRD_DATA_ROOT`` or the ``shared/data`` folder beside the checkout
(``<checkout>/../shared/data``). Tests that need it fail, loudly, when it is missing: a
skipped data test would let a broken loader pass unnoticed.

Training and CLI tests start from ``configs/tiny.yaml`` (a random 2-layer Llama student and a
tiny BERT judge) with its data, teacher and filter stages made once per session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from qcrd.config import DATA_ROOT_ENV, RunConfig

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


# --- tiny runs shared by the training and integration tests --------------------------------

TINY_CONFIG = CHECKOUT / "configs" / "tiny.yaml"
PREPARED_STAGES = ("data", "teacher", "filter")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread for the test.

    Tiny models gain nothing from more, and on a shared 2-core machine OpenMP threads that
    spin-wait for each other make a tiny Llama's matmuls 20x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A run directory of ``configs/tiny.yaml`` whose data, teacher (replay) and filter stages
    are complete: what every training test starts from. Never write into it: ``tiny_run``
    copies it."""
    from qcrd.config import load_config
    from qcrd.pipeline import run_stages

    run_dir = tmp_path_factory.mktemp("tiny_prepared")
    cfg = load_config(TINY_CONFIG, [f"run_dir={run_dir}", f"data.root={data_root}"])
    run_stages(cfg, PREPARED_STAGES)
    return run_dir


TinyRun = Callable[..., RunConfig]


@pytest.fixture
def tiny_run(tmp_path: Path, tiny_prepared: Path, data_root: Path) -> TinyRun:
    """Make the config of a fresh tiny run: ``tiny_run("train.lr=1e-4", name="a")``.

    The run directory ``tmp_path/name`` starts with copies of the prepared data, teacher and
    filter stages; their manifests come along, so the pipeline skips them as long as the
    overrides leave the data, teacher and filter sections alone.
    """
    from qcrd.config import load_config

    def make(*overrides: str, name: str = "run") -> RunConfig:
        run_dir = tmp_path / name
        run_dir.mkdir()
        for stage in PREPARED_STAGES:
            shutil.copytree(tiny_prepared / stage, run_dir / stage)
        return load_config(
            TINY_CONFIG, [f"run_dir={run_dir}", f"data.root={data_root}", *overrides]
        )

    return make

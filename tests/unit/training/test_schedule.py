"""The data order: fixed up front from the seed, epoch by epoch, no batch across two epochs."""

from __future__ import annotations

import pytest

from qcrd.training.schedule import micro_batches, total_optimizer_steps


def _epochs(batches: list[list[int]], n_items: int) -> list[list[list[int]]]:
    """Group batches into epochs: an epoch ends once it has seen ``n_items`` indices."""
    epochs: list[list[list[int]]] = [[]]
    seen = 0
    for batch in batches:
        epochs[-1].append(batch)
        seen += len(batch)
        if seen == n_items:
            epochs.append([])
            seen = 0
        assert seen < n_items, "a batch straddles two epochs"
    return [e for e in epochs if e]


def test_same_seed_same_order_other_seed_other_order() -> None:
    assert micro_batches(10, 4, 7, seed=3) == micro_batches(10, 4, 7, seed=3)
    assert micro_batches(10, 4, 7, seed=3) != micro_batches(10, 4, 7, seed=4)


def test_each_epoch_is_a_permutation_with_a_short_last_batch() -> None:
    batches = micro_batches(10, 4, 9, seed=0)  # 3 epochs of [4, 4, 2]
    assert [len(b) for b in batches] == [4, 4, 2] * 3
    epochs = _epochs(batches, 10)
    assert len(epochs) == 3
    for epoch in epochs:
        assert sorted(i for b in epoch for i in b) == list(range(10))
    # Every epoch is shuffled anew.
    assert epochs[0] != epochs[1] != epochs[2]


def test_a_run_ending_mid_epoch_stops_at_a_batch_boundary() -> None:
    batches = micro_batches(10, 4, 4, seed=0)
    assert [len(b) for b in batches] == [4, 4, 2, 4]
    assert len(set(batches[3])) == 4


def test_order_does_not_depend_on_the_run_length() -> None:
    """What lets a longer run (or a resumed one) see the same first batches."""
    short, long = micro_batches(10, 4, 3, seed=1), micro_batches(10, 4, 8, seed=1)
    assert long[:3] == short


def test_batch_size_splits_the_same_permutation() -> None:
    """Two batches of 4 hold the same items as one of 8: batch x accumulation invariance."""
    eights, fours = micro_batches(16, 8, 2, seed=0), micro_batches(16, 4, 4, seed=0)
    assert fours[0] + fours[1] == eights[0]
    assert fours[2] + fours[3] == eights[1]


def test_batch_larger_than_the_data_is_one_batch_per_epoch() -> None:
    batches = micro_batches(3, 8, 2, seed=0)
    assert [sorted(b) for b in batches] == [[0, 1, 2], [0, 1, 2]]


def test_no_items_is_an_error() -> None:
    with pytest.raises(ValueError, match="no training examples"):
        micro_batches(0, 4, 1, seed=0)


@pytest.mark.parametrize(
    ("n_items", "batch_size", "grad_accum", "epochs", "max_steps", "expected"),
    [
        (32, 8, 1, 1.0, None, 4),
        (33, 8, 1, 1.0, None, 5),  # the short last batch is a step
        (32, 8, 2, 1.0, None, 2),
        (32, 8, 3, 1.0, None, 2),  # 4 micro-batches -> ceil(4 / 3) steps
        (32, 8, 1, 2.5, None, 10),
        (32, 8, 1, 0.1, None, 1),  # never zero steps
        (32, 8, 1, 3.0, 6, 6),  # max_steps wins over epochs
    ],
)
def test_total_optimizer_steps(
    n_items: int,
    batch_size: int,
    grad_accum: int,
    epochs: float,
    max_steps: int | None,
    expected: int,
) -> None:
    assert total_optimizer_steps(n_items, batch_size, grad_accum, epochs, max_steps) == expected

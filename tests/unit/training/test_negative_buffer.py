"""Self-adversarial negatives: when each micro-batch's negatives are sampled, and the buffer
that holds them until then (method.md §1.3)."""

from __future__ import annotations

import io
import json

import pytest
import torch

from qcrd.negatives.buffer import NegativeBuffer, sampling_plan


def _plans(
    n_iterations: int,
    lag: int,
    iteration_steps: int,
    grad_accum: int,
    n_micro: int,
    fixed: bool = False,
) -> list[list[int]]:
    return [
        list(sampling_plan(i, lag, iteration_steps, grad_accum, n_micro, fixed))
        for i in range(n_iterations)
    ]


def test_lag_two_with_one_micro_batch_per_iteration() -> None:
    # Iteration 0 stands in for the checkpoints of iterations -2 and -1: it samples the
    # micro-batches of iterations 0, 1 and 2. Iteration i then samples iteration i + 2's.
    assert _plans(5, lag=2, iteration_steps=1, grad_accum=1, n_micro=5) == [
        [0, 1, 2],
        [3],
        [4],
        [],  # iteration 5 does not exist: clipped to nothing
        [],
    ]


def test_iterations_of_several_steps_and_accumulation() -> None:
    # 2 optimizer steps x 2 micro-batches = 4 micro-batches per iteration; lag 1.
    plans = _plans(4, lag=1, iteration_steps=2, grad_accum=2, n_micro=14)
    assert plans == [
        list(range(0, 8)),  # iterations 0 and 1
        list(range(8, 12)),  # iteration 2
        [12, 13],  # iteration 3, clipped at the end of the run
        [],
    ]


def test_lag_zero_samples_each_iteration_for_itself() -> None:
    assert _plans(3, lag=0, iteration_steps=1, grad_accum=2, n_micro=6) == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("lag", [0, 1, 3, 5])
@pytest.mark.parametrize(("iteration_steps", "grad_accum"), [(1, 1), (2, 1), (3, 2)])
def test_every_micro_batch_is_sampled_once_and_j_iterations_early(
    lag: int, iteration_steps: int, grad_accum: int
) -> None:
    per_iter = iteration_steps * grad_accum
    n_micro = 7 * per_iter - 1  # a run ending mid-iteration
    n_iterations = -(-n_micro // per_iter)
    sampled_at: dict[int, int] = {}
    for i, plan in enumerate(_plans(n_iterations, lag, iteration_steps, grad_accum, n_micro)):
        for m in plan:
            assert m not in sampled_at, f"micro-batch {m} sampled twice"
            sampled_at[m] = i
    assert sorted(sampled_at) == list(range(n_micro))
    for m, i in sampled_at.items():
        used_at = m // per_iter
        assert i == max(0, used_at - lag), (m, i, used_at)


def test_fixed_generator_samples_everything_once_at_the_start() -> None:
    assert _plans(3, lag=5, iteration_steps=1, grad_accum=1, n_micro=4, fixed=True) == [
        [0, 1, 2, 3],
        [],
        [],
    ]


def test_plan_past_the_end_is_empty() -> None:
    assert list(sampling_plan(10, 2, 1, 1, n_micro=4, fixed=False)) == []


def test_buffer_take_consumes_and_misses_are_empty() -> None:
    buf = NegativeBuffer()
    buf.put(3, {"a": "x"})
    buf.put(3, {"b": "y"})
    buf.put(4, {"a": "z"})  # the same example in a later micro-batch gets its own sample
    assert buf.take(3) == {"a": "x", "b": "y"}
    assert buf.take(3) == {}
    assert buf.take(99) == {}
    assert buf.pending == {4: {"a": "z"}}


def test_buffer_state_round_trips_through_json_and_torch_save() -> None:
    buf = NegativeBuffer()
    buf.put(0, {"q1": "one"})
    buf.put(12, {"q2": "two", "q3": "three"})
    state = buf.state_dict()

    via_json = NegativeBuffer()
    via_json.load_state_dict(json.loads(json.dumps(state)))
    stream = io.BytesIO()
    torch.save(state, stream)
    stream.seek(0)
    via_torch = NegativeBuffer()
    via_torch.load_state_dict(torch.load(stream, weights_only=True))

    for loaded in (via_json, via_torch):
        assert loaded.pending == buf.pending
        assert loaded.take(12) == {"q2": "two", "q3": "three"}  # int keys again, not "12"
    # Loading copies: consuming from the copy leaves the original alone.
    assert buf.take(12) == {"q2": "two", "q3": "three"}


def test_loading_replaces_what_was_pending() -> None:
    buf = NegativeBuffer()
    buf.put(1, {"old": "x"})
    buf.load_state_dict({"pending": {"2": {"new": "y"}}})
    assert buf.pending == {2: {"new": "y"}}

"""The local backend with the real offline SmolLM2-135M-Instruct (slow: loads the model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qcrd.config import TeacherConfig, build_config
from qcrd.data.records import Example, read_jsonl, write_jsonl
from qcrd.teacher.backend import Response, SampleRequest, SamplingParams
from qcrd.teacher.local_backend import LocalBackend
from qcrd.teacher.stage import run_teacher_stage

PARAMS = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=12, seed=0)


def generate(backend: LocalBackend, requests: list[SampleRequest]) -> list[Response]:
    async def collect() -> list[Response]:
        return [r async for r in backend.generate(requests, PARAMS)]

    return asyncio.run(collect())


def test_key_fields_name_model_precision_and_sampling() -> None:
    backend = LocalBackend(TeacherConfig(backend="local"))
    fields = backend.key_fields(SampleRequest("a", "p", (0,)), "svamp@1", PARAMS)
    assert fields["model"] == "smollm2-135m" and fields["precision"] in ("bf16", "fp32")
    assert (fields["prompt"], fields["template"], fields["seed"]) == ("p", "svamp@1", 0)


@pytest.mark.slow
def test_local_backend_samples_batches_reproducibly(tmp_path: Path) -> None:
    cfg = TeacherConfig(backend="local", local_batch_size=4)
    backend = LocalBackend(cfg)
    requests = [
        SampleRequest("a", "Q: Tom has 3 apples and buys 4 more. How many apples?\nA:", (0, 1)),
        SampleRequest("b", "Q: What is 6 times 7?\nA:", (0, 1)),
    ]
    first = generate(backend, requests)
    assert len(first) == 4
    assert all(r.samples[0].text.strip() and r.prompt_tokens > 5 for r in first)
    assert all(0 < r.completion_tokens <= 12 for r in first)
    # Same batches, same seed: the same samples (the forked RNG makes it independent of
    # whatever ran before).
    again = generate(backend, requests)
    assert [r.samples[0].text for r in again] == [r.samples[0].text for r in first]
    # Two samples of one prompt differ (they are sampled, not copies).
    assert first[0].samples[0].text != first[1].samples[0].text

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_jsonl(data_dir / "train.jsonl", [Example("q1", "What is 2 + 5?", "( 2 + 5 )").to_json()])
    run_cfg = build_config(
        {
            "run_dir": str(tmp_path / "run"),
            "teacher": {"backend": "local", "num_samples": 2, "max_tokens": 12},
        }
    )
    summary = run_teacher_stage(run_cfg, data_dir, tmp_path / "run" / "teacher")
    assert summary["kept"] == 2 and summary["cost_usd"] == 0.0
    (row,) = read_jsonl(tmp_path / "run" / "teacher" / "samples.jsonl")
    assert {s["source"] for s in row["samples"]} == {"local:smollm2-135m"}

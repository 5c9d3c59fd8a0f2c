"""The teacher stage end to end on fast backends: replay, a scripted fake, and dry runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qcrd.config import RunConfig, build_config
from qcrd.data.records import Example, Rationale, RationaleSet, read_jsonl, write_jsonl
from qcrd.teacher import stage as stage_module
from qcrd.teacher.backend import Failure, Response, Sample, SampleRequest, SamplingParams
from qcrd.teacher.stage import run_teacher_stage

QUESTIONS = {
    "q1": "Tom has 3 apples and buys 4 more. How many apples does he have?",
    "q2": "A box holds 12 pens. How many pens are in 5 boxes?",
    "q3": "Sara had 20 stickers and gave away 8. How many are left?",
}


def write_data(data_dir: Path, rationales_per_id: int = 10) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    examples = [Example(i, q, "( 1 + 1 )") for i, q in QUESTIONS.items()]
    write_jsonl(data_dir / "train.jsonl", (e.to_json() for e in examples))
    sets = [
        RationaleSet(
            i,
            tuple(
                Rationale(f"{i} rationale {j}. The answer is {j}.", "mcckd:gpt-3.5-turbo")
                for j in range(rationales_per_id)
            ),
        )
        for i in QUESTIONS
    ]
    write_jsonl(data_dir / "rationales.jsonl", (s.to_json() for s in sets))


def config(tmp_path: Path, **teacher: Any) -> RunConfig:
    return build_config(
        {"run_dir": str(tmp_path / "run"), "teacher": {"num_samples": 3, **teacher}}
    )


def test_replay_stage_writes_k_samples_per_example_and_reruns_from_cache(tmp_path: Path) -> None:
    write_data(tmp_path / "data")
    cfg = config(tmp_path, backend="replay")
    out = tmp_path / "run" / "teacher"
    first = run_teacher_stage(cfg, tmp_path / "data", out)
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert [r["id"] for r in rows] == list(QUESTIONS)
    assert all(len(r["samples"]) == 3 for r in rows)
    assert rows[0]["samples"][0]["source"] == "mcckd:gpt-3.5-turbo"
    assert (first["requested"], first["generated"], first["failed"], first["complete"]) == (
        9,
        9,
        0,
        True,
    )
    assert list(read_jsonl(out / "failures.jsonl")) == []

    second = run_teacher_stage(cfg, tmp_path / "data", out)
    assert (second["cached"], second["requested"], second["calls"]) == (9, 0, 0)
    assert list(read_jsonl(out / "samples.jsonl")) == rows

    reseeded = run_teacher_stage(config(tmp_path, backend="replay", seed=1), tmp_path / "data", out)
    assert reseeded["requested"] == 9  # another seed is another subset: new keys


def test_replay_with_fewer_rationales_than_k_reports_them(tmp_path: Path) -> None:
    write_data(tmp_path / "data", rationales_per_id=2)
    out = tmp_path / "run" / "teacher"
    summary = run_teacher_stage(config(tmp_path, backend="replay"), tmp_path / "data", out)
    assert summary["kept"] == 6 and summary["failed_by_reason"] == {
        "replay_has_fewer_rationales": 3
    }
    # Reported, but complete: a rerun cannot conjure rationales the file does not hold.
    assert summary["complete"]


@dataclass
class ScriptedBackend:
    """Fails every sample whose (id, index) is in ``fail`` once per run it is asked."""

    fail: set[tuple[str, int]] = field(default_factory=set)
    asked: list[tuple[str, int]] = field(default_factory=list)
    name: str = "openai"
    source: str = "openai:fake"
    billed: bool = True

    def key_fields(
        self, request: SampleRequest, template_ref: str, params: SamplingParams
    ) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": "fake",
            "template": template_ref,
            "prompt": request.prompt,
            "seed": params.seed,
        }

    async def generate(
        self, requests: Sequence[SampleRequest], params: SamplingParams
    ) -> AsyncIterator[Response]:
        for request in requests:
            self.asked += [(request.example_id, i) for i in request.indices]
            samples = tuple(
                Sample(i, f"{request.example_id}/{i}. The answer is 7.")
                for i in request.indices
                if (request.example_id, i) not in self.fail
            )
            failures = tuple(
                Failure(i, "http_503")
                for i in request.indices
                if (request.example_id, i) in self.fail
            )
            yield Response(
                request,
                samples,
                failures,
                prompt_tokens=1000,
                completion_tokens=100,
                attempts=1 + 5 * bool(failures),
            )

    def estimate_prompt_tokens(self, prompt: str) -> int:
        return 250

    def describe(self) -> dict[str, Any]:
        return {"n_mode": "yes"}

    async def aclose(self) -> None:
        return None


def test_failed_samples_are_recorded_not_passed_on_and_retried_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_data(tmp_path / "data")
    cfg = config(
        tmp_path, backend="openai", price_prompt_per_mtok=2.0, price_completion_per_mtok=10.0
    )
    out = tmp_path / "run" / "teacher"
    flaky = ScriptedBackend(fail={("q2", 1), ("q3", 0)})
    monkeypatch.setattr(stage_module, "make_backend", lambda cfg, data_dir: flaky)
    first = run_teacher_stage(cfg, tmp_path / "data", out)

    assert (
        first["kept"] == 7
        and first["failed_by_reason"] == {"http_503": 2}
        and not first["complete"]
    )
    # 3 calls x (1000 prompt x $2 + 100 completion x $10) per million tokens.
    assert first["cost_usd"] == pytest.approx(3 * (1000 * 2 + 100 * 10) / 1e6)
    rows = {r["id"]: r["samples"] for r in read_jsonl(out / "samples.jsonl")}
    assert [s["text"] for s in rows["q2"]] == ["q2/0. The answer is 7.", "q2/2. The answer is 7."]
    assert all(s["text"].strip() for samples in rows.values() for s in samples)
    failures = list(read_jsonl(out / "failures.jsonl"))
    assert {(f["id"], f["sample_index"], f["reason"], f["attempts"]) for f in failures} == {
        ("q2", 1, "http_503", 6),
        ("q3", 0, "http_503", 6),
    }

    healed = ScriptedBackend()
    monkeypatch.setattr(stage_module, "make_backend", lambda cfg, data_dir: healed)
    second = run_teacher_stage(cfg, tmp_path / "data", out)
    assert sorted(healed.asked) == [("q2", 1), ("q3", 0)]  # only what was missing
    assert second["complete"] and second["kept"] == 9 and second["cached"] == 7
    usage = json.loads((out / "usage.json").read_text())
    assert usage["this_run"]["calls"] == 2 and usage["all_runs"]["responses"] == 5


def test_identical_prompts_are_asked_once_and_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    same = "What is 2 + 2?"
    write_jsonl(
        data_dir / "train.jsonl",
        [Example("a", same, "4").to_json(), Example("b", same, "4").to_json()],
    )
    backend = ScriptedBackend()
    monkeypatch.setattr(stage_module, "make_backend", lambda cfg, data_dir: backend)
    summary = run_teacher_stage(config(tmp_path, backend="openai"), data_dir, tmp_path / "out")
    assert len(backend.asked) == 3 and summary["kept"] == 6


def test_dry_run_estimates_without_asking_or_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_data(tmp_path / "data")
    cfg = config(tmp_path, backend="openai", max_tokens=100)
    backend = ScriptedBackend()
    monkeypatch.setattr(stage_module, "make_backend", lambda cfg, data_dir: backend)
    out = tmp_path / "run" / "teacher"
    estimate = run_teacher_stage(cfg, tmp_path / "data", out, dry_run=True)
    assert backend.asked == [] and not out.exists()
    assert estimate["requested"] == 9
    assert estimate["estimated_prompt_tokens_n_per_request"] == 3 * 250
    assert estimate["estimated_prompt_tokens_separate"] == 9 * 250
    assert estimate["estimated_cost_usd_separate"] == pytest.approx(
        (9 * 250 * 0.5 + 9 * 100 * 1.5) / 1e6
    )


def test_dry_run_with_the_real_openai_backend_needs_no_server(tmp_path: Path) -> None:
    write_data(tmp_path / "data")
    cfg = config(tmp_path, backend="openai", base_url="http://127.0.0.1:9/v1")
    estimate = run_teacher_stage(cfg, tmp_path / "data", tmp_path / "run" / "teacher", dry_run=True)
    assert estimate["estimated_prompt_tokens_n_per_request"] > 3 * 200  # a few-shot prompt each

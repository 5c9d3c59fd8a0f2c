"""The teacher stage (method.md §1.1): K rationales per training input, cached and resumable.

    summary = run_teacher_stage(cfg, run / "data", run / "teacher")

Reads ``data_dir/train.jsonl`` (and, for ``replay``, ``data_dir/rationales.jsonl``); renders
each input into the task's few-shot prompt; asks the backend only for samples the cache does
not hold (failed ones are asked again); stores each response as it arrives; and writes

- ``samples.jsonl``: ``{"id", "samples": [{"text", "source"}, ...]}`` per training example, in
  train order, holding only usable samples in sample order (possibly none);
- ``failures.jsonl``: ``{"id", "sample_index", "status", "reason", "attempts",
  "finish_reason"}`` for every sample that is not usable (``failed``: asked again by the next
  run; ``empty``: the server answered with blank text, final);
- ``usage.json``: calls, tokens and cost of this run and of all runs of this cache.

A killed run loses at most the calls in flight; rerunning it asks for nothing already stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig, TeacherConfig
from qcrd.data.records import Example, read_examples, write_jsonl
from qcrd.progress import progress_bar
from qcrd.teacher.backend import Response, SampleRequest, SamplingParams, TeacherBackend
from qcrd.teacher.cache import CachedSample, Slot, TeacherCache, prompt_sha, sample_key
from qcrd.teacher.prompts import PromptTemplate, load_template
from qcrd.teacher.replay_backend import SHORT_REASON

log = logging.getLogger(__name__)

CACHE_FILE = "cache.sqlite"
FINAL = ("ok", "empty")


def make_backend(cfg: RunConfig, data_dir: Path) -> TeacherBackend:
    """The backend named by ``cfg.teacher.backend`` (imports only what it needs)."""
    name = cfg.teacher.backend
    if name == "openai":
        from qcrd.teacher.openai_backend import OpenAIBackend

        return OpenAIBackend(cfg.teacher)
    if name == "local":
        from qcrd.teacher.local_backend import LocalBackend

        return LocalBackend(cfg.teacher)
    from qcrd.teacher.replay_backend import ReplayBackend

    return ReplayBackend.from_file(data_dir / "rationales.jsonl")


def sampling_params(cfg: TeacherConfig, template: PromptTemplate) -> SamplingParams:
    return SamplingParams(cfg.temperature, cfg.top_p, cfg.max_tokens, cfg.seed, template.stop)


def cost_usd(cfg: TeacherConfig, prompt_tokens: int, completion_tokens: int) -> float:
    return (
        prompt_tokens * cfg.price_prompt_per_mtok
        + completion_tokens * cfg.price_completion_per_mtok
    ) / 1e6


@dataclass
class Plan:
    """Every sample slot of the run, and the requests for the ones still missing.

    Examples with identical prompts share their slots (and are asked once).
    """

    keys: dict[str, list[str]]  # example id -> slot keys, in sample order
    slots: dict[SampleRequest, dict[int, Slot]]  # full request (all K) -> index -> slot
    todo: list[SampleRequest] = field(default_factory=list)
    todo_slots: dict[SampleRequest, dict[int, Slot]] = field(default_factory=dict)

    def all_keys(self) -> list[str]:
        return [key for keys in self.keys.values() for key in keys]


def plan_samples(
    examples: Sequence[Example],
    template: PromptTemplate,
    backend: TeacherBackend,
    params: SamplingParams,
    num_samples: int,
) -> Plan:
    """Render prompts and derive every slot's cache key (nothing is asked yet)."""
    plan = Plan(keys={}, slots={})
    by_group: dict[str, dict[int, Slot]] = {}
    for example in examples:
        if example.id in plan.keys:
            raise ValueError(f"train.jsonl has the id {example.id!r} twice")
        prompt = template.render(example.input)
        request = SampleRequest(example.id, prompt, tuple(range(num_samples)))
        fields = backend.key_fields(request, template.ref, params)
        group = sample_key(fields, -1)
        if group not in by_group:
            stored = {k: prompt_sha(v) if k == "prompt" else v for k, v in fields.items()}
            fields_json = json.dumps(stored, sort_keys=True)
            by_group[group] = {
                i: Slot(sample_key(fields, i), fields_json, prompt, backend.source)
                for i in range(num_samples)
            }
            plan.slots[request] = by_group[group]
        plan.keys[example.id] = [by_group[group][i].key for i in range(num_samples)]
    return plan


def select_missing(plan: Plan, cached: dict[str, CachedSample]) -> None:
    """Fill ``plan.todo`` with requests for the slots not final in ``cached``."""
    for request, slots in plan.slots.items():
        missing = tuple(
            i
            for i, slot in slots.items()
            if slot.key not in cached or cached[slot.key].status not in FINAL
        )
        if missing:
            todo = replace(request, indices=missing)
            plan.todo.append(todo)
            plan.todo_slots[todo] = slots


@dataclass
class Tally:
    """What this run obtained, for the progress bar and the summary."""

    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    attempts: int = 0

    def add(self, response: Response) -> None:
        self.calls += 1
        self.attempts += response.attempts
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        for sample in response.samples:
            self.ok += bool(sample.text.strip())
            self.truncated += sample.finish_reason == "length"
        self.failed.update(f.reason for f in response.failures)


async def _generate(
    backend: TeacherBackend,
    plan: Plan,
    params: SamplingParams,
    cache: TeacherCache,
    cfg: TeacherConfig,
    cached: int,
) -> Tally:
    tally = Tally()
    total = sum(len(r.indices) for r in plan.todo)
    try:
        with progress_bar() as bar:
            task = bar.add_task("teacher", total=total, status="")
            async for response in backend.generate(plan.todo, params):
                cache.store(response, plan.todo_slots[response.request])
                tally.add(response)
                spent = cost_usd(cfg, tally.prompt_tokens, tally.completion_tokens)
                status = f"done {tally.ok} failed {sum(tally.failed.values())} cached {cached}" + (
                    f" ${spent:.4f}" if backend.billed else ""
                )
                bar.update(
                    task, advance=len(response.samples) + len(response.failures), status=status
                )
    finally:
        await backend.aclose()
    return tally


def _dry_run_estimate(backend: TeacherBackend, plan: Plan, cfg: TeacherConfig) -> dict[str, Any]:
    """Prompt tokens and cost if the missing samples were asked for, without asking."""
    one_call = sum(backend.estimate_prompt_tokens(r.prompt) for r in plan.todo)
    separate = sum(backend.estimate_prompt_tokens(r.prompt) * len(r.indices) for r in plan.todo)
    slots = sum(len(r.indices) for r in plan.todo)
    completion_max = slots * cfg.max_tokens
    price = (lambda p, c: cost_usd(cfg, p, c)) if backend.billed else (lambda p, c: 0.0)
    return {
        "requested": slots,
        "estimated_prompt_tokens_n_per_request": one_call,
        "estimated_prompt_tokens_separate": separate,
        "max_completion_tokens": completion_max,
        "estimated_cost_usd_n_per_request": round(price(one_call, completion_max), 6),
        "estimated_cost_usd_separate": round(price(separate, completion_max), 6),
        "note": "prompt tokens estimated (chars/4 unless a tokenizer is loaded); completion "
        "tokens are an upper bound (max_tokens per sample)",
    }


def _write_outputs(
    examples: Sequence[Example], plan: Plan, cache: TeacherCache, out: Path
) -> tuple[int, Counter[str], Counter[str]]:
    """samples.jsonl and failures.jsonl from the cache; returns (kept, failed, empty reasons)."""
    rows = cache.lookup(plan.all_keys())
    samples, failures = [], []
    failed: Counter[str] = Counter()
    empty: Counter[str] = Counter()
    kept = 0
    for example in examples:
        kept_here = []
        for index, key in enumerate(plan.keys[example.id]):
            row = rows.get(key)
            if row is not None and row.status == "ok":
                kept_here.append({"text": row.text, "source": row.source})
                continue
            if row is None:  # the backend returned nothing for it (should not happen)
                status, reason, attempts, finish = "missing", "not_returned", 0, None
            elif row.status == "empty":
                status, reason, attempts, finish = (
                    "empty",
                    "empty_text",
                    row.attempts,
                    row.finish_reason,
                )
            else:
                status, reason, attempts, finish = (
                    "failed",
                    row.reason or "unknown",
                    row.attempts,
                    None,
                )
            (empty if status == "empty" else failed)[reason] += 1
            failures.append(
                {
                    "id": example.id,
                    "sample_index": index,
                    "status": status,
                    "reason": reason,
                    "attempts": attempts,
                    "finish_reason": finish,
                }
            )
        kept += len(kept_here)
        samples.append({"id": example.id, "samples": kept_here})
    write_jsonl(out / "samples.jsonl", samples)
    write_jsonl(out / "failures.jsonl", failures)
    return kept, failed, empty


def run_teacher_stage(
    cfg: RunConfig, data_dir: Path, out: Path, *, dry_run: bool = False
) -> dict[str, Any]:
    """Sample K teacher rationales per training example (see the module docstring).

    Args:
        cfg: the run's configuration (``cfg.teacher`` and ``cfg.data.task``).
        data_dir: the data stage's folder (``train.jsonl``, ``rationales.jsonl``).
        out: this stage's folder; the cache defaults to ``out/cache.sqlite``
            (``<run_dir>/teacher/cache.sqlite``) unless ``teacher.cache_path`` is set.
        dry_run: only estimate the prompt tokens and cost of what is missing; asks nothing
            and writes nothing.

    Returns:
        A JSON-able summary: slots, cached, requested, generated, failed by reason, tokens,
        cost, the detected ``n`` support, and ``complete`` (no failed sample left).

    Raises:
        TeacherError: a problem no retry fixes (no key, unknown model); what was obtained
            before it stays in the cache.
    """
    tcfg = cfg.teacher
    started = time.monotonic()
    examples = read_examples(data_dir / "train.jsonl")
    template = load_template(tcfg.template or cfg.data.task)
    params = sampling_params(tcfg, template)
    backend = make_backend(cfg, data_dir)
    plan = plan_samples(examples, template, backend, params, tcfg.num_samples)
    cache_path = Path(tcfg.cache_path) if tcfg.cache_path else out / CACHE_FILE
    base = {
        "backend": backend.name,
        "source": backend.source,
        "template": template.ref,
        "examples": len(examples),
        "num_samples": tcfg.num_samples,
        "slots": len(plan.all_keys()),
    }

    if dry_run:
        cached = {}
        if cache_path.is_file():
            with TeacherCache(cache_path, run_id="dry-run") as cache:
                cached = cache.lookup(plan.all_keys())
        select_missing(plan, cached)
        asyncio.run(backend.aclose())
        summary = {**base, "dry_run": True, **_dry_run_estimate(backend, plan, tcfg)}
        log.info("teacher dry run: %s", json.dumps(summary))
        return summary

    out.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    with TeacherCache(cache_path, run_id=run_id) as cache:
        before = cache.lookup(plan.all_keys())
        select_missing(plan, before)
        already = sum(1 for row in before.values() if row.status in FINAL)
        requested = sum(len(r.indices) for r in plan.todo)
        log.info(
            "teacher: %d examples x %d samples; %d cached, %d to ask %s",
            len(examples),
            tcfg.num_samples,
            already,
            requested,
            backend.source,
        )
        tally = asyncio.run(_generate(backend, plan, params, cache, tcfg, already))
        kept, failed, empty = _write_outputs(examples, plan, cache, out)
        all_runs = cache.usage()
    described = backend.describe()
    billed = backend.billed
    summary = {
        **base,
        "cached": already,
        "requested": requested,
        "generated": tally.ok,
        "kept": kept,
        "failed": sum(failed.values()),
        "failed_by_reason": dict(failed),
        "empty": sum(empty.values()),
        "truncated_this_run": tally.truncated,
        "calls": tally.calls,
        "attempts": tally.attempts,
        "prompt_tokens": tally.prompt_tokens,
        "completion_tokens": tally.completion_tokens,
        "cost_usd": round(cost_usd(tcfg, tally.prompt_tokens, tally.completion_tokens), 6)
        if billed
        else 0.0,
        "n_mode": described.get("n_mode"),
        "backend_info": described,
        # A replay file with fewer rationales than K will never have more: reported, but not
        # a failure that a rerun could fix.
        "complete": not any(reason != SHORT_REASON for reason in failed),
        "wall_s": round(time.monotonic() - started, 3),
    }
    usage = {
        "run_id": run_id,
        "this_run": {
            "calls": tally.calls,
            "attempts": tally.attempts,
            "prompt_tokens": tally.prompt_tokens,
            "completion_tokens": tally.completion_tokens,
            "cost_usd": summary["cost_usd"],
        },
        "all_runs": {
            **all_runs,
            "cost_usd": round(
                cost_usd(tcfg, all_runs["prompt_tokens"], all_runs["completion_tokens"]), 6
            )
            if billed
            else 0.0,
        },
        "price_per_mtok": {
            "prompt": tcfg.price_prompt_per_mtok,
            "completion": tcfg.price_completion_per_mtok,
        }
        if billed
        else None,
        "backend": described,
    }
    (out / "usage.json").write_text(json.dumps(usage, indent=2))
    log.info(
        "teacher: %d kept, %d failed %s, %d empty; %d prompt + %d completion tokens, $%.4f",
        kept,
        summary["failed"],
        dict(failed),
        summary["empty"],
        tally.prompt_tokens,
        tally.completion_tokens,
        summary["cost_usd"],
    )
    return summary

"""The training recipe: setup -> (resume) -> train with validation -> best checkpoint.

One loop for every method (ft, single_task, dss, qcrd), read top to bottom. Runs in one process,
or in several under ``accelerate launch`` (each process takes a slice of every micro-batch and
gradients are averaged by hand after backward: a QCRD step runs the student several times
before one backward, which DDP's one-forward-per-backward hooks do not allow).

    qcrd train --config configs/tiny.yaml          # through the CLI, after data/teacher/filter
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import get_linear_schedule_with_warmup

from qcrd.config import RunConfig
from qcrd.data.records import Example, read_examples, read_log_rows
from qcrd.evaluation.accuracy import generate_in_batches, predict
from qcrd.evaluation.judge_scores import PoolText
from qcrd.evaluation.trace import (
    JUDGE_TRACE_FILE,
    NEGATIVES_FILE,
    judge_probe,
    record_judge_snapshot,
    record_student_negatives,
)
from qcrd.models.judge import Judge, build_judge
from qcrd.models.judge_pretrain import pretrain_judge
from qcrd.models.student import Student, load_student
from qcrd.negatives.buffer import NegativeBuffer, sampling_plan
from qcrd.progress import progress_bar
from qcrd.rundir import RunDir
from qcrd.tasks import get_task
from qcrd.tasks.base import EXPLAIN_PREFIX, Task
from qcrd.training.checkpoint import (
    commit_checkpoint,
    find_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from qcrd.training.items import TrainItem, build_items
from qcrd.training.precision import autocast, resolve_precision
from qcrd.training.schedule import micro_batches, total_optimizer_steps
from qcrd.training.steps import baseline_step, qcrd_step

log = logging.getLogger(__name__)


def save_model(student: Student, folder: Path) -> None:
    """Save the student in plain Hugging Face format (LoRA merged into the weights)."""
    model: Any = student.model
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    student.tokenizer.save_pretrained(tmp)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)


def _all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(world)


def _mean_over_processes(
    terms: dict[str, float], world: int, device: torch.device
) -> dict[str, float]:
    """Each process's loss terms are means over its slice of the batch; the log holds the
    mean over processes, the whole batch's value (slices differ by at most one example)."""
    keys = sorted(terms)
    values = torch.tensor([terms[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) / world for k, v in zip(keys, values.tolist(), strict=True)}


def _validate(
    student: Student,
    task: Task,
    valid: list[Example],
    cfg: RunConfig,
    precision: str,
    rank: int,
    world: int,
) -> float:
    shard = valid[rank::world]
    preds = predict(
        student,
        task,
        shard,
        cfg.eval,
        method=cfg.train.method,
        precision=precision,
        description="validate",
    )
    correct = torch.tensor([sum(p.correct for p in preds), len(preds)], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(correct)
    return float(correct[0] / correct[1].clamp_min(1))


def _sample_negatives(
    student: Student,
    items: list[TrainItem],
    schedule: list[list[int]],
    plan: range,
    buffer: NegativeBuffer,
    cfg: RunConfig,
    precision: str,
    rank: int,
    world: int,
) -> list[PoolText]:
    """Sample one hot rationale per (micro-batch, example) in the plan with the current student;
    returns what was sampled (for the record of negatives and the judge trace)."""
    jobs = [(m, items[i]) for m in plan for i in schedule[m][rank::world]]
    if not jobs:
        return []
    q = cfg.train.qcrd
    texts = generate_in_batches(
        student,
        [EXPLAIN_PREFIX + it.example.input for _, it in jobs],
        batch_size=cfg.train.batch_size,
        max_new_tokens=q.negative_max_new_tokens,
        precision=precision,
        temperature=q.negative_temperature,
        seed=cfg.train.seed * 7919 + plan.start,
        description="negatives",
    )
    sampled = []
    for (m, it), text in zip(jobs, texts, strict=True):
        if text:
            buffer.put(m, {it.example.id: text})
            sampled.append(PoolText("student_negative", it.example.id, it.example.input, text))
    return sampled


def _judge_pairs(items: list[TrainItem]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    pos = [(it.example.input, r) for it in items for r in it.positives]
    neg = [(it.example.input, r) for it in items for r in it.teacher_negatives]
    return pos, neg


def train(cfg: RunConfig, run: RunDir) -> dict[str, Any]:
    """Train the configured method; writes ``train/best`` (the validation-selected student),
    ``train/log.jsonl`` (every step's loss terms and every validation) and ``train/checkpoint``."""
    tc, q = cfg.train, cfg.train.qcrd
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    if tc.batch_size < world:
        raise ValueError(f"train.batch_size={tc.batch_size} is smaller than {world} processes")
    precision = resolve_precision(tc.precision, device)
    set_seed(tc.seed)
    out = run.stage("train")
    task = get_task(cfg.data.task)
    filter_dir = run.root / "filter" if (run.root / "filter" / "train.jsonl").is_file() else None
    if tc.method != "ft" and filter_dir is None:
        raise FileNotFoundError(f"method {tc.method} needs the filter stage's output in {run.root}")
    items = build_items(tc, run.root / "data", filter_dir)
    valid = read_examples(run.root / "data" / "valid.jsonl")

    # --- setup ---------------------------------------------------------------------------
    student = load_student(cfg.student)
    student.model.to(device)
    student.model.train()
    params = [p for p in student.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    steps = total_optimizer_steps(len(items), tc.batch_size, tc.grad_accum, tc.epochs, tc.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, tc.warmup_steps, steps)
    schedule = micro_batches(len(items), tc.batch_size, steps * tc.grad_accum, tc.seed)
    steps_per_epoch = max(1, math.ceil(math.ceil(len(items) / tc.batch_size) / tc.grad_accum))
    eval_every = tc.eval_every or steps_per_epoch

    judge: Judge | None = None
    judge_opt: torch.optim.Optimizer | None = None
    if tc.method == "qcrd" and q.quality_judge:
        judge = build_judge(cfg.judge, seed=tc.seed).to(device)
        judge_opt = torch.optim.AdamW(judge.parameters(), lr=cfg.judge.lr)
    sample_own = tc.method == "qcrd" and q.negatives and q.negative_source != "teacher"
    buffer = NegativeBuffer()
    select_gen = torch.Generator().manual_seed(tc.seed)
    probe = judge_probe(items, seed=tc.seed) if judge is not None else []
    recent: list[PoolText] = []  # the latest student negatives, for the judge trace

    # --- resume or start -----------------------------------------------------------------
    start, best, judge_pretrain_losses = 0, -1.0, []
    ckpt_dir = out / "checkpoint"
    found = find_checkpoint(ckpt_dir)
    if found is not None:
        state = load_checkpoint(found, rank)
        student.model.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if judge is not None and judge_opt is not None:
            judge.load_state_dict(state["judge"])
            judge_opt.load_state_dict(state["judge_optimizer"])
        buffer.load_state_dict(state["buffer"])
        select_gen.set_state(state["select_generator"])
        set_rng_state(state["rng"])
        start, best = state["step"], state["best"]
        log.info("resuming at step %d of %d (best valid accuracy %.4f)", start, steps, best)
    elif judge is not None:
        pos, neg = _judge_pairs(items)
        judge_pretrain_losses = pretrain_judge(
            judge, pos, neg, cfg.judge, seed=tc.seed, bf16=precision == "bf16"
        )
    log_path = out / "log.jsonl"
    kept = [r for r in read_log_rows(log_path) if r.get("step", 0) < start] if start else []
    # One writer: a second process opening the log with "w" would truncate rank 0's lines.
    log_file = log_path.open("w") if rank == 0 else open(os.devnull, "w")  # noqa: SIM115
    for row in kept:
        log_file.write(json.dumps(row) + "\n")
    if judge_pretrain_losses:
        log_file.write(json.dumps({"judge_pretrain": judge_pretrain_losses}) + "\n")

    # --- train ---------------------------------------------------------------------------
    with progress_bar() as bar:
        bar_task = bar.add_task(f"train {tc.method}", total=steps, completed=start, status="")
        for step in range(start, steps):
            iteration = step // q.iteration_steps
            t_start, c_start = time.perf_counter(), time.process_time()
            if sample_own and step % q.iteration_steps == 0:
                plan = sampling_plan(
                    iteration,
                    q.negative_lag,
                    q.iteration_steps,
                    tc.grad_accum,
                    len(schedule),
                    fixed=q.negative_source == "fixed",
                )
                recent = _sample_negatives(
                    student, items, schedule, plan, buffer, cfg, precision, rank, world
                )
                if rank == 0 and recent:
                    record_student_negatives(
                        out / NEGATIVES_FILE, step, {t.id: t.text for t in recent}
                    )
            t_sampled, c_sampled = time.perf_counter(), time.process_time()
            terms: dict[str, float] = {}
            for micro in range(tc.grad_accum):
                m = step * tc.grad_accum + micro
                batch = [items[i] for i in schedule[m][rank::world]]
                with autocast(precision, device):
                    # The step runs its own backward, term by term (see training/steps.py).
                    scale = 1.0 / tc.grad_accum
                    step_terms = (
                        qcrd_step(
                            student,
                            judge,
                            batch,
                            buffer.take(m),
                            q,
                            iteration,
                            select_gen,
                            score_batch_size=tc.batch_size * 2,
                            scale=scale,
                        )
                        if tc.method == "qcrd"
                        else baseline_step(student, batch, tc, scale)
                    )
                for k, v in step_terms.items():
                    terms[k] = terms.get(k, 0.0) + v / tc.grad_accum
            if world > 1:
                terms = _mean_over_processes(terms, world, device)
                _all_reduce_grads(params, world)
                if judge is not None:
                    _all_reduce_grads(list(judge.parameters()), world)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if judge is not None and judge_opt is not None:
                torch.nn.utils.clip_grad_norm_(judge.parameters(), tc.max_grad_norm)
                judge_opt.step()
                judge_opt.zero_grad(set_to_none=True)
            # Wall time split, so a user (and benchmarks/) sees what negatives cost.
            row = {
                "step": step,
                "iteration": iteration,
                "lr": scheduler.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                **terms,
                "sample_seconds": t_sampled - t_start,
                "step_seconds": time.perf_counter() - t_sampled,
                # CPU time is far steadier than wall time on a shared machine.
                "sample_cpu_seconds": c_sampled - c_start,
                "step_cpu_seconds": time.process_time() - c_sampled,
            }
            done = step + 1
            if done % eval_every == 0 or done == steps:
                acc = _validate(student, task, valid, cfg, precision, rank, world)
                row["valid_accuracy"] = acc
                if acc > best:
                    best = acc
                    if rank == 0:
                        save_model(student, out / "best")
                    row["best"] = True
                if rank == 0 and judge is not None:
                    # Judge scores over training (the paper's Fig. 6, as it develops).
                    record_judge_snapshot(out / JUDGE_TRACE_FILE, judge, probe, done, recent)
            if rank == 0:
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
            bar.update(bar_task, advance=1, status=f"loss {terms.get('loss', 0):.3f}")
            if done % tc.checkpoint_every == 0 or done == steps:
                _checkpoint(
                    ckpt_dir,
                    rank,
                    world,
                    done,
                    best,
                    student,
                    optimizer,
                    scheduler,
                    judge,
                    judge_opt,
                    buffer,
                    select_gen,
                )
    log_file.close()
    if rank == 0 and judge is not None:
        torch.save(judge.state_dict(), out / "judge.pt")
    return {
        "steps": steps,
        "best_valid_accuracy": best,
        "precision": precision,
        "processes": world,
        "train_examples": len(items),
    }


def _checkpoint(
    folder: Path,
    rank: int,
    world: int,
    step: int,
    best: float,
    student: Student,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    judge: Judge | None,
    judge_opt: torch.optim.Optimizer | None,
    buffer: NegativeBuffer,
    select_gen: torch.Generator,
) -> None:
    staging = folder.with_name(folder.name + ".staging")
    state = {
        "step": step,
        "best": best,
        "student": student.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "judge": judge.state_dict() if judge is not None else None,
        "judge_optimizer": judge_opt.state_dict() if judge_opt is not None else None,
        "buffer": buffer.state_dict(),
        "select_generator": select_gen.get_state(),
        "rng": rng_state(),
    }
    save_checkpoint(staging, rank, state)
    if world > 1:
        dist.barrier()
    if rank == 0:
        commit_checkpoint(staging, folder)
    if world > 1:
        dist.barrier()

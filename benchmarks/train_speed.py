"""Training speed, measured side by side in one run (absolute times drift on a shared machine).

Prints:
1. bf16-autocast / fp32 time of a DSS train step on SmolLM2-135M (batch 4), interleaved;
2. QCRD / DSS train time per example through the real training loop (K = 5 positives, one
   student negative per example sampled at temperature 1.5, the MiniLM judge on), the share
   of QCRD wall time spent sampling negatives, and each method's peak memory.

    .venv/bin/python benchmarks/train_speed.py              # about 20-30 minutes on 2 AVX2 cores
    .venv/bin/python benchmarks/train_speed.py --steps 3     # quicker, noisier

On CPUs without AMX / AVX-512 BF16, bf16 is emulated and a bf16 step is many times slower than
fp32: that half dominates the run time there.

Negatives are sampled with lag 0 and one iteration per step, which gives the steady-state cost
of one sample per consumed example at every step (with lag j the first iteration samples j + 1
iterations' worth at once; the total is the same).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from transformers.utils import logging as hf_logging  # noqa: E402

from qcrd.config import load_config  # noqa: E402
from qcrd.pipeline import run_stages  # noqa: E402

BASE = [
    "data.task=svamp",
    "data.source=mcckd",
    "data.max_train=64",
    "data.max_valid=8",
    "data.max_test=8",
    "teacher.num_samples=5",
    "student.name=smollm2-135m",
    "student.max_target_tokens=160",
    "train.batch_size=8",
    "train.checkpoint_every=1000",
    "train.eval_every=1000",
    "train.qcrd.iteration_steps=1",
    "train.qcrd.negative_lag=0",
    "train.qcrd.negative_max_new_tokens=96",
    "judge.pretrain_steps=5",
]


def bf16_vs_fp32(reps: int, batch: int) -> dict[str, float]:
    """Interleaved DSS train steps in each precision on the same examples (after a warm-up
    step of one example in each precision, so one-time kernel set-up is not timed)."""
    from qcrd.config import StudentConfig
    from qcrd.data import load_data
    from qcrd.models.student import load_student
    from qcrd.training.precision import autocast, cpu_has_fast_bf16

    cfg = load_config(None, [f"data.max_train={batch}"])
    data = load_data(cfg.data)
    first = {r.id: r.rationales[0].text for r in data.rationales}
    student = load_student(StudentConfig(name="smollm2-135m"))
    opt = torch.optim.AdamW(student.model.parameters(), lr=1e-6)
    x = ["predict: " + e.input for e in data.train]
    y = [e.label for e in data.train]
    xr = ["explain: " + e.input for e in data.train]
    yr = [first[e.id] for e in data.train]
    cpu = torch.device("cpu")

    def step(precision: str, n: int) -> float:
        start = time.perf_counter()
        with autocast(precision, cpu):
            loss = 0.5 * student.nll(x[:n], y[:n]).mean() + 0.5 * student.nll(xr[:n], yr[:n]).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return time.perf_counter() - start

    step("fp32", 1), step("bf16", 1)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(reps):
        for precision in ("fp32", "bf16"):
            times[precision].append(step(precision, batch))
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return {
        "fp32_s": fp32,
        "bf16_s": bf16,
        "speedup": fp32 / bf16,
        "cpu_has_fast_bf16": cpu_has_fast_bf16(),
    }


def one_run(method: str, steps: int, run_dir: str) -> None:
    """Child process: train ``steps`` steps and print the log's timing and peak memory."""
    cfg = load_config(
        None,
        [
            *BASE,
            f"run_dir={run_dir}",
            f"train.method={method}",
            f"train.max_steps={steps}",
            "train.precision=auto",
        ],
    )
    run_stages(cfg, ["data", "teacher", "filter", "train"], force=False)
    rows = [json.loads(line) for line in (Path(run_dir) / "train" / "log.jsonl").open()]
    rows = [r for r in rows if "step" in r][1:]  # step 0 warms up
    print(
        json.dumps(
            {
                "step_seconds": [r["step_seconds"] for r in rows],
                "sample_seconds": [r["sample_seconds"] for r in rows],
                "step_cpu": [r["step_cpu_seconds"] for r in rows],
                "sample_cpu": [r["sample_cpu_seconds"] for r in rows],
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            }
        )
    )


def methods_side_by_side(steps: int) -> None:
    """DSS then QCRD through the real loop in child processes; per-example time from the logs."""
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("dss", "qcrd"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--steps",
                    str(steps),
                    "--child",
                    method,
                    f"{tmp}/{method}",
                ],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "QCRD_PROGRESS": "0"},
            )
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
    per_example: dict[str, dict[str, float]] = {}
    for method, r in results.items():
        per_example[method] = {}
        for clock, step_key, sample_key in (
            ("wall", "step_seconds", "sample_seconds"),
            ("cpu", "step_cpu", "sample_cpu"),
        ):
            total = [a + b for a, b in zip(r[step_key], r[sample_key], strict=True)]
            per_example[method][clock] = statistics.mean(total) / 8
            share = sum(r[sample_key]) / sum(total)
            print(
                f"{method:5s} {clock:4s} {per_example[method][clock]:.2f} s/example  "
                f"sampling share {100 * share:.1f}%"
            )
        print(f"{method:5s} peak RSS {r['peak_rss_gb']:.2f} GB")
    for clock in ("wall", "cpu"):
        ratio = per_example["qcrd"][clock] / per_example["dss"][clock]
        print(f"QCRD / DSS time per example ({clock}): {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=6, help="train steps per run (first is warm-up)"
    )
    parser.add_argument("--reps", type=int, default=2, help="bf16/fp32 step pairs")
    parser.add_argument("--bf16-batch", type=int, default=4, help="examples in a bf16/fp32 step")
    parser.add_argument("--only", choices=("all", "bf16", "methods"), default="all")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    hf_logging.disable_progress_bar()
    if args.child:
        one_run(args.child[0], args.steps, args.child[1])
        return
    if args.only in ("all", "methods"):
        print("== QCRD vs DSS per training example (real loop, K=5, 1 student negative, judge on)")
        methods_side_by_side(args.steps)
    if args.only in ("all", "bf16"):
        print(f"== bf16 autocast vs fp32, DSS step, SmolLM2-135M, batch {args.bf16_batch}")
        p = bf16_vs_fp32(args.reps, args.bf16_batch)
        print(
            f"fp32 {p['fp32_s']:.2f} s  bf16 {p['bf16_s']:.2f} s  speed-up {p['speedup']:.2f}x  "
            f"(CPU with AMX/AVX512-BF16: {p['cpu_has_fast_bf16']})"
        )


if __name__ == "__main__":
    main()

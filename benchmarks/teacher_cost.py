"""What the teacher stage pays: prompt tokens billed per kept rationale when K samples are
asked in one request (``n=K``) versus K separate requests, and the wall time of a fully
cached rerun relative to the first run. Runs against SmolLM2-135M-Instruct served by a local
llama.cpp server (``pip install -e '.[server]'``); nothing leaves the machine.

    .venv/bin/python benchmarks/teacher_cost.py                 # 4 SVAMP questions, K=5
    .venv/bin/python benchmarks/teacher_cost.py --questions 2 --k 3 --max-tokens 16   # tiny

Goals: ratio <= 0.3 at K=5 (the few-shot prompt dominates, so n=K should cost about 1/K),
cached rerun <= 0.05 of the first run. Questions come from the DSS SVAMP train split under
$QCRD_DATA_ROOT (default ../shared/data); a built-in list stands in when it is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from qcrd.config import DataConfig, build_config
from qcrd.data.records import Example, write_jsonl
from qcrd.teacher.llama_server import llama_server, smollm2_gguf
from qcrd.teacher.stage import run_teacher_stage

FALLBACK = [
    "Mia has 14 marbles. She wins 9 more. How many marbles does Mia have now?",
    "Leo buys 7 packs of 6 pencils. How many pencils does he buy?",
    "There are 45 birds on a wire and 17 fly away. How many are left?",
    "56 cards are shared equally among 8 students. How many does each get?",
]


def questions(n: int) -> list[str]:
    path = DataConfig().resolved_root() / "distilling-step-by-step" / "svamp" / "svamp_train.json"
    if path.is_file():
        with path.open() as f:
            found = [json.loads(line)["input"] for line, _ in zip(f, range(n), strict=False)]
        return found
    return [FALLBACK[i % len(FALLBACK)] + f" (variant {i})" for i in range(n)]


def run(root: Path, base_url: str, data_dir: Path, **teacher: Any) -> tuple[dict[str, Any], float]:
    cfg = build_config(
        {
            "run_dir": str(root),
            "data": {"task": "svamp"},
            "teacher": {"backend": "openai", "model": "smollm2", "base_url": base_url, **teacher},
        }
    )
    start = time.perf_counter()
    summary = run_teacher_stage(cfg, data_dir, root / "teacher")
    return summary, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        data_dir.mkdir()
        rows = [Example(f"q{i}", q, "0").to_json() for i, q in enumerate(questions(args.questions))]
        write_jsonl(data_dir / "train.jsonl", rows)
        common = {"num_samples": args.k, "max_tokens": args.max_tokens, "concurrency": 1, "seed": 0}
        with llama_server(smollm2_gguf(), alias="smollm2", n_threads=args.threads) as server:
            one, one_s = run(
                root / "n_per_request", server.base_url, data_dir, n_per_request="yes", **common
            )
            cached, cached_s = run(
                root / "n_per_request", server.base_url, data_dir, n_per_request="yes", **common
            )
            sep, sep_s = run(
                root / "separate", server.base_url, data_dir, n_per_request="no", **common
            )

    per_one = one["prompt_tokens"] / max(1, one["kept"])
    per_sep = sep["prompt_tokens"] / max(1, sep["kept"])
    print(
        f"{args.questions} SVAMP questions, K={args.k}, max_tokens={args.max_tokens}, "
        "SmolLM2-135M on llama.cpp"
    )
    print(f"{'mode':<14}{'calls':>7}{'kept':>7}{'prompt tok':>12}{'per kept':>10}{'wall s':>9}")
    for name, s, wall in (("n=K request", one, one_s), ("K separate", sep, sep_s)):
        per = s["prompt_tokens"] / max(1, s["kept"])
        print(
            f"{name:<14}{s['calls']:>7}{s['kept']:>7}{s['prompt_tokens']:>12}{per:>10.1f}{wall:>9.2f}"
        )
    print(
        f"choices returned per n=K call: {one['kept'] / max(1, one['calls']):.2f} (asked {args.k})"
    )
    print(
        f"prompt tokens per kept rationale, n=K / separate: {per_one / per_sep:.3f} (goal <= 0.3)"
    )
    print(
        f"fully cached rerun: {cached_s:.3f}s vs {one_s:.2f}s first run = {cached_s / one_s:.4f} "
        f"(goal <= 0.05); calls on rerun: {cached['calls']}"
    )


if __name__ == "__main__":
    main()

"""Generation-based accuracy: the student writes its label, the task reads and compares it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from qcrd.config import EvalConfig
from qcrd.data.records import Example
from qcrd.models.student import Student
from qcrd.progress import progress_bar
from qcrd.tasks.base import PREDICT_PREFIX, Task
from qcrd.training.items import label_part
from qcrd.training.precision import autocast


@dataclass(frozen=True)
class Prediction:
    id: str
    output: str
    answer: str | None
    gold: str | None
    correct: bool
    parse_failure: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gold_key(task: Task, example: Example) -> str | None:
    try:
        return task.label_answer(example.label, example.choices).key
    except ValueError:
        return None


def score_outputs(task: Task, examples: list[Example], outputs: list[str]) -> list[Prediction]:
    """Compare generated label outputs with the gold labels."""
    preds = []
    for ex, out in zip(examples, outputs, strict=True):
        answer = task.parse_prediction(out, ex.choices)
        gold = gold_key(task, ex)
        preds.append(
            Prediction(
                id=ex.id,
                output=out,
                answer=answer.key,
                gold=gold,
                correct=answer.key is not None and answer.key == gold,
                parse_failure=answer.reason,
            )
        )
    return preds


def generate_in_batches(
    student: Student,
    prompts: list[str],
    *,
    batch_size: int,
    max_new_tokens: int,
    precision: str,
    temperature: float = 0.0,
    seed: int | None = None,
    description: str = "generate",
) -> list[str]:
    """Generate for every prompt, batching similar lengths together to waste little padding."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    device = next(student.model.parameters()).device
    was_training = student.model.training
    student.model.eval()
    with progress_bar() as bar, torch.no_grad(), autocast(precision, device):
        task_id = bar.add_task(description, total=len(prompts), status="")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            texts = student.generate(
                [prompts[i] for i in idx],
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                generator_seed=None if seed is None else seed + start,
            )
            for i, text in zip(idx, texts, strict=True):
                outputs[i] = text
            bar.advance(task_id, len(idx))
    student.model.train(was_training)
    return outputs


def predict(
    student: Student,
    task: Task,
    examples: list[Example],
    cfg: EvalConfig,
    *,
    method: str,
    precision: str,
    description: str = "evaluate",
) -> list[Prediction]:
    """Generate each example's label (``predict:`` prompt) and score it.

    A ``single_task`` student writes its rationale before the label, so it gets room for both
    and only the part after the label marker is read.
    """
    single = method == "single_task"
    outputs = generate_in_batches(
        student,
        [PREDICT_PREFIX + ex.input for ex in examples],
        batch_size=cfg.batch_size,
        max_new_tokens=cfg.max_new_tokens + (cfg.rationale_max_new_tokens if single else 0),
        precision=precision,
        description=description,
    )
    if single:
        outputs = [label_part(o) for o in outputs]
    return score_outputs(task, examples, outputs)


def accuracy(preds: list[Prediction]) -> float:
    return sum(p.correct for p in preds) / len(preds) if preds else 0.0

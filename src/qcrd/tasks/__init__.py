"""Benchmark tasks: input rendering, gold labels, and reading answers out of model text."""

from __future__ import annotations

from qcrd.tasks.base import EXPLAIN_PREFIX, PREDICT_PREFIX, Answer, Task, student_input
from qcrd.tasks.cqa import CqaTask
from qcrd.tasks.nli import NliTask
from qcrd.tasks.svamp import SvampTask

TASK_NAMES = ("svamp", "cqa", "anli1", "esnli")

__all__ = [
    "EXPLAIN_PREFIX",
    "PREDICT_PREFIX",
    "TASK_NAMES",
    "Answer",
    "CqaTask",
    "NliTask",
    "SvampTask",
    "Task",
    "get_task",
    "student_input",
]


def get_task(name: str) -> Task:
    """The task called ``name`` (one of ``TASK_NAMES``).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "svamp":
        return SvampTask()
    if name == "cqa":
        return CqaTask()
    if name in ("anli1", "esnli"):
        return NliTask(name=name)
    raise ValueError(f"unknown task {name!r}; tasks are {', '.join(TASK_NAMES)}")

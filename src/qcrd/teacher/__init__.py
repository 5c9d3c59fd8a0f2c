"""Teacher sampling: K chain-of-thought rationales per training input (method.md §1.1).

Backends (``openai``, ``local``, ``replay``) implement :class:`TeacherBackend`; the stage
caches every sample in SQLite as it arrives (:class:`TeacherCache`), so an interrupted run
resumes and nothing is paid for twice.
"""

from qcrd.teacher.backend import (
    Failure,
    Response,
    Sample,
    SampleRequest,
    SamplingParams,
    TeacherBackend,
    TeacherError,
)
from qcrd.teacher.cache import TeacherCache, sample_key
from qcrd.teacher.prompts import PromptTemplate, load_template
from qcrd.teacher.stage import make_backend, run_teacher_stage

__all__ = [
    "Failure",
    "PromptTemplate",
    "Response",
    "Sample",
    "SampleRequest",
    "SamplingParams",
    "TeacherBackend",
    "TeacherCache",
    "TeacherError",
    "load_template",
    "make_backend",
    "run_teacher_stage",
    "sample_key",
]

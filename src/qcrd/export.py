"""Export a finished run for use elsewhere: the student, its rationales and preference pairs.

    qcrd export -c configs/tiny.yaml --out export/            # [--push USER/NAME]

Writes into ``out``:

- ``model/``: the validation-selected student (``train/best``, plain Hugging Face format:
  ``AutoModelForCausalLM`` / ``AutoModelForSeq2SeqLM`` and ``AutoTokenizer`` load it) with a
  model card ``README.md``: how to prompt it, metrics, training, teacher, data lineage (the
  data set's ``SOURCE.md`` where there is one) and the resolved configuration.
- ``rationales/data.jsonl``: the kept teacher rationales, one row per training input
  ``{"id", "input", "label", "rationales": [str]}`` (the ``data.source=jsonl`` import schema,
  docs/importing.md), with a card.
- ``preferences/data.jsonl``: ``{"prompt", "chosen", "rejected", "id", "rejected_source"}``,
  the standard preference format (TRL's DPO and reward trainers read the first three):
  ``prompt`` is the explain-prefixed input, ``chosen`` a kept positive, ``rejected`` a teacher
  negative or (where the training loop recorded them, ``train/negatives.jsonl``) a student
  negative; every (positive, negative) pair of an input. With a card.
- ``export.json``: what was written, with counts.

Nothing here needs the network except :func:`push_export`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig, dump_config
from qcrd.data.records import read_examples, read_jsonl, write_jsonl
from qcrd.evaluation.trace import NEGATIVES_FILE, read_student_negatives
from qcrd.models.student import resolve_family
from qcrd.rundir import RunDir, StageMismatch
from qcrd.tasks.base import EXPLAIN_PREFIX, PREDICT_PREFIX

log = logging.getLogger(__name__)

# Where each data source's files (and their SOURCE.md) live under the data root.
SOURCE_FOLDERS = {
    "mcckd": ("MCC-KD", "distilling-step-by-step"),
    "dss": ("distilling-step-by-step",),
}
# Phrases in a SOURCE.md that mean its data must not be published.
_RESTRICTED = re.compile(r"do not republish|research[- ]only|not be redistributed", re.IGNORECASE)


Provenance = list[tuple[str, str]]
"""(data folder name, its SOURCE.md text) per folder the run read."""


class ExportError(RuntimeError):
    """An export or upload that cannot be done (the message says what to do)."""


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _pct(x: Any) -> str:
    return f"{100 * x:.2f}%" if isinstance(x, int | float) else "n/a"


def _summary(run_root: Path, stage: str) -> dict[str, Any]:
    manifest: dict[str, Any] = _json(run_root / stage / "manifest.json")
    return manifest.get("summary", {})


def lineage(cfg: RunConfig) -> Provenance:
    """(where, provenance text) for every data folder the run read that has a ``SOURCE.md``."""
    folders: list[Path] = []
    root = cfg.data.resolved_root()
    if cfg.data.source in SOURCE_FOLDERS:
        folders = [root / f for f in SOURCE_FOLDERS[cfg.data.source]]
    elif cfg.data.source == "jsonl":
        for name in (cfg.data.jsonl.train, cfg.data.jsonl.valid, cfg.data.jsonl.test):
            if name:
                path = Path(name)
                folders.append((path if path.is_file() else root / path).parent)
    found: Provenance = []
    for folder in dict.fromkeys(folders):
        source = folder / "SOURCE.md"
        if source.is_file():
            found.append((folder.name, source.read_text(encoding="utf-8").strip()))
    return found


def restricted(notes: Provenance) -> list[str]:
    """The folders whose provenance says their data must not be republished."""
    return [where for where, text in notes if _RESTRICTED.search(text)]


def _lineage_lines(cfg: RunConfig, notes: Provenance) -> list[str]:
    hub = f" (`{cfg.data.hub_name or 'the task default'}`)" if cfg.data.source == "hub" else ""
    lines = [f"Task `{cfg.data.task}`, data source `{cfg.data.source}`{hub}.", ""]
    blocked = restricted(notes)
    if blocked:
        lines += [
            f"> **Licence warning.** The provenance of {', '.join(blocked)} restricts "
            "redistribution: do not publish this export (or only privately).",
            "",
        ]
    for where, text in notes:
        quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
        lines += [f"Provenance of `{where}` (its SOURCE.md):", "", quoted, ""]
    if not notes:
        lines += ["No SOURCE.md was found for this data: check its licence yourself.", ""]
    return lines


def _teacher_lines(cfg: RunConfig, run_root: Path) -> list[str]:
    t = cfg.teacher
    teacher = _summary(run_root, "teacher")
    sources = _summary(run_root, "data").get("rationales", {}).get("sources", {})
    usage = _json(run_root / "teacher" / "usage.json").get("all_runs", {})
    lines = [
        f"- backend `{t.backend}`" + (f", model `{t.model}`" if t.backend != "replay" else ""),
        f"- K = {t.num_samples} samples per input at temperature {t.temperature}",
        f"- filter keep policy `{cfg.filter.keep}`",
    ]
    if sources:
        lines.append(f"- imported rationale sources: {json.dumps(sources)}")
    if teacher:
        lines.append(f"- samples kept by the teacher stage: {teacher.get('kept')}")
    if usage:
        lines.append(
            f"- tokens {usage.get('prompt_tokens', 0)} prompt + "
            f"{usage.get('completion_tokens', 0)} completion, cost ${usage.get('cost_usd', 0.0)}"
        )
    return lines


def model_card(cfg: RunConfig, run_root: Path, notes: Provenance) -> str:
    """The model's README.md (Hub model card with YAML front matter)."""
    family = resolve_family(cfg.student.name, cfg.student.family)
    auto = "AutoModelForCausalLM" if family == "causal" else "AutoModelForSeq2SeqLM"
    newline = ' + "\\n"' if family == "causal" else ""
    slice_ = "[0, ids.shape[1]:]" if family == "causal" else "[0]"
    n_in = cfg.student.max_input_tokens
    # The student was trained and evaluated on prompts cut to n_in tokens: a causal student
    # keeps the end (where the question is), a seq2seq tokenizer the start.
    if family == "causal":
        special, cut = ", add_special_tokens=False", f"[:, -{n_in}:]"
    else:
        special, cut = f", truncation=True, max_length={n_in}", ""
    metrics = _json(run_root / "evaluate" / "metrics.json")
    cons = metrics.get("rationale_consistency") or {}
    train = _summary(run_root, "train")
    counts = _summary(run_root, "data").get("counts", {})
    front = [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {'text-generation' if family == 'causal' else 'text2text-generation'}",
        f"tags: [qcrd, rationale-distillation, chain-of-thought, {cfg.data.task}]",
        "---",
    ]
    body = [
        f"# {cfg.train.method} student on {cfg.data.task} (qcrd)",
        "",
        f"A `{cfg.student.name}` student trained with `{cfg.train.method}` by qcrd "
        "(quality-guided contrastive rationale distillation, arXiv 2405.13014).",
        "",
        "## How to prompt it",
        "",
        f"Label: `{PREDICT_PREFIX}<input>`; rationale: `{EXPLAIN_PREFIX}<input>`"
        + (", each followed by a newline (decoder-only student)." if newline else "."),
        f"Greedy decoding, as in the evaluation below; prompts longer than {n_in} tokens "
        + ("lose their start (the question is at the end)." if family == "causal" else "are cut."),
        "",
        "```python",
        f"from transformers import {auto}, AutoTokenizer",
        "",
        'tok = AutoTokenizer.from_pretrained("PATH_OR_REPO")',
        f'model = {auto}.from_pretrained("PATH_OR_REPO")',
        f'prompt = "{PREDICT_PREFIX}" + question{newline}',
        f'ids = tok(prompt{special}, return_tensors="pt").input_ids{cut}',
        f"out = model.generate(ids, max_new_tokens={cfg.eval.max_new_tokens}, do_sample=False)",
        f"print(tok.decode(out{slice_}, skip_special_tokens=True))",
        "```",
        "",
        "## Evaluation",
        "",
        "| metric | value |",
        "|---|---|",
        f"| test accuracy | {_pct(metrics.get('test_accuracy'))} "
        f"on {metrics.get('test_examples')} examples |",
        "| validation accuracy (selected checkpoint) | "
        f"{_pct(metrics.get('best_valid_accuracy'))} |",
        f"| rationale–label consistency (where both parse) | {_pct(cons.get('consistency'))} |",
        "",
        "## Training",
        "",
        f"- method `{cfg.train.method}`, seed {cfg.train.seed}, {train.get('steps')} optimizer "
        f"steps, batch {cfg.train.batch_size} x {cfg.train.grad_accum}, lr {cfg.train.lr}",
        f"- examples: {json.dumps(counts)}",
        "",
        "## Teacher",
        "",
        *_teacher_lines(cfg, run_root),
        "",
        "## Data lineage and licences",
        "",
        *_lineage_lines(cfg, notes),
        "## Configuration",
        "",
        "```yaml",
        dump_config(cfg).rstrip(),
        "```",
        "",
    ]
    return "\n".join(front + body)


def rationale_rows(run_root: Path) -> list[dict[str, Any]]:
    """One row per training input with at least one kept positive (import schema)."""
    examples = {ex.id: ex for ex in read_examples(run_root / "data" / "train.jsonl")}
    rows = []
    for row in read_jsonl(run_root / "filter" / "train.jsonl"):
        ex = examples.get(str(row["id"]))
        if ex is not None and row.get("positives"):
            rows.append(
                {"id": ex.id, "input": ex.input, "label": ex.label, "rationales": row["positives"]}
            )
    return rows


def preference_rows(run_root: Path) -> list[dict[str, Any]]:
    """Every (kept positive, negative) pair of each training input; see the module docstring."""
    inputs = {ex.id: ex.input for ex in read_examples(run_root / "data" / "train.jsonl")}
    student = read_student_negatives(run_root / "train" / NEGATIVES_FILE)
    rows = []
    for row in read_jsonl(run_root / "filter" / "train.jsonl"):
        key = str(row["id"])
        if key not in inputs:
            continue
        rejected = [(t, "teacher") for t in row.get("teacher_negatives", [])]
        rejected += [(t, "student") for t in student.get(key, [])]
        for chosen in row.get("positives", []):
            for text, source in rejected:
                if text != chosen:
                    rows.append(
                        {
                            "prompt": EXPLAIN_PREFIX + inputs[key],
                            "chosen": chosen,
                            "rejected": text,
                            "id": key,
                            "rejected_source": source,
                        }
                    )
    return rows


def _dataset_card(
    title: str, what: list[str], cfg: RunConfig, run_root: Path, notes: Provenance
) -> str:
    return "\n".join(
        [
            "---",
            f"tags: [qcrd, rationale-distillation, {cfg.data.task}]",
            "---",
            f"# {title}",
            "",
            *what,
            "",
            "## Teacher",
            "",
            *_teacher_lines(cfg, run_root),
            "",
            "## Data lineage and licences",
            "",
            *_lineage_lines(cfg, notes),
        ]
    )


def _write_datasets(cfg: RunConfig, run_root: Path, out: Path, notes: Provenance) -> dict[str, int]:
    if not (run_root / "filter" / "train.jsonl").is_file():
        log.info("export: no filter stage output (method %s): no data sets", cfg.train.method)
        return {}
    counts = {}
    rat_dir, pref_dir = out / "rationales", out / "preferences"
    rat_dir.mkdir(parents=True)
    pref_dir.mkdir(parents=True)
    counts["rationale_rows"] = write_jsonl(rat_dir / "data.jsonl", rationale_rows(run_root))
    prefs = preference_rows(run_root)
    counts["preference_pairs"] = write_jsonl(pref_dir / "data.jsonl", prefs)
    counts["student_rejected"] = sum(r["rejected_source"] == "student" for r in prefs)
    rat_what = [
        f"Teacher rationales kept by self-consistency ({counts['rationale_rows']} inputs), "
        'one row per input: `{"id", "input", "label", "rationales": [str]}`. Import it with '
        "`data.source=jsonl data.jsonl.train=data.jsonl data.jsonl.id_field=id "
        "data.jsonl.rationales_field=rationales` (see docs/importing.md).",
    ]
    student_note = (
        f"{counts['student_rejected']} pairs reject a student negative."
        if counts["student_rejected"]
        else "No student negatives were recorded (train/negatives.jsonl): teacher ones only."
    )
    pref_what = [
        f"{counts['preference_pairs']} preference pairs `prompt`, `chosen`, `rejected` (plus "
        "`id` and `rejected_source`): the explain-prefixed input, a kept teacher positive and a "
        f"negative rationale of the same input, every combination. {student_note}",
    ]
    (rat_dir / "README.md").write_text(
        _dataset_card("Kept teacher rationales", rat_what, cfg, run_root, notes)
    )
    (pref_dir / "README.md").write_text(
        _dataset_card("Rationale preference pairs", pref_what, cfg, run_root, notes)
    )
    return counts


def export_run(cfg: RunConfig, out: Path) -> dict[str, Any]:
    """Write the export described in the module docstring; return ``export.json``'s content.

    Raises:
        FileNotFoundError: the run has no trained student.
        ExportError: it was trained with another configuration than ``cfg``.
    """
    run_root = Path(cfg.run_dir)
    best = run_root / "train" / "best"
    # The card describes cfg: it must be the configuration the student was trained with.
    try:
        trained = RunDir(run_root).is_complete("train", cfg)
    except StageMismatch:
        raise ExportError(
            f"{run_root} was trained with another configuration than the one given; export "
            f"it with the one it saved: qcrd export -c {run_root / 'config.yaml'} --out ..."
        ) from None
    if not trained or not (best / "config.json").is_file():
        raise FileNotFoundError(f"no trained student in {best}: run the train stage first")
    for part in ("model", "rationales", "preferences", "export.json"):
        target = out / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    notes = lineage(cfg)
    shutil.copytree(best, out / "model")
    (out / "model" / "README.md").write_text(model_card(cfg, run_root, notes), encoding="utf-8")
    (out / "model" / "qcrd_config.yaml").write_text(dump_config(cfg))
    counts = _write_datasets(cfg, run_root, out, notes)
    summary = {
        "run_dir": str(run_root),
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "restricted_data": restricted(notes),
        **counts,
    }
    (out / "export.json").write_text(json.dumps(summary, indent=2))
    return summary


def push_export(
    out: Path, repo_id: str, *, private: bool = False, token: str | None = None
) -> list[str]:
    """Upload ``out/model`` to the model repo ``repo_id`` and the data sets to the dataset
    repos ``<repo_id>-rationales`` and ``<repo_id>-preferences`` (``upload_folder``).

    Data sets whose provenance restricts redistribution go to private repos only.

    Raises:
        ExportError: no export in ``out``, or the Hub could not be reached or refused.
    """
    from huggingface_hub import HfApi

    summary = _json(out / "export.json")
    if not summary:
        raise ExportError(f"{out} holds no export: run qcrd export --out {out} first")
    targets = [(out / "model", repo_id, "model")]
    for name in ("rationales", "preferences"):
        if (out / name).is_dir():
            if summary.get("restricted_data") and not private:
                log.warning(
                    "not pushing %s: its data restricts redistribution (use --private)", name
                )
                continue
            targets.append((out / name, f"{repo_id}-{name}", "dataset"))
    api = HfApi(token=token)
    urls = []
    for folder, target, kind in targets:
        try:
            api.create_repo(target, repo_type=kind, private=private, exist_ok=True)
            info = api.upload_folder(
                folder_path=folder,
                repo_id=target,
                repo_type=kind,
                commit_message="qcrd export",
            )
        except Exception as err:  # httpx, requests and huggingface_hub each raise their own
            raise ExportError(
                f"could not push {folder} to the Hub {kind} repo {target!r}: "
                f"{type(err).__name__}: {str(err).rstrip('.')}. The export in {out} is "
                "complete; retry when online and logged in (`hf auth login` or $HF_TOKEN)."
            ) from err
        urls.append(str(getattr(info, "commit_url", target)))
    return urls

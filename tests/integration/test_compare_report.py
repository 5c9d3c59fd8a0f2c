"""``qcrd compare`` and ``qcrd export`` end to end on the tiny config, through the real CLI.

One comparison (ft, dss and qcrd on seed 0, 16 training questions, 4 steps) is shared by the
session. Its learning rate is tiny on purpose: the random student then stays close to its
initialisation and writes non-empty (random) text, where a few steps at the usual rate teach
it to write only spaces, and identical empty outputs would make the export's equality check
pass whatever the prompt format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from qcrd.config import DataConfig, JsonlSource, RunConfig, load_config
from qcrd.data.jsonl import load_jsonl
from qcrd.data.records import read_examples, read_jsonl
from qcrd.export import ExportError, push_export
from qcrd.models.student import load_student
from qcrd.tasks.base import PREDICT_PREFIX

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]
QCRD = Path(sys.executable).with_name("qcrd")
TINY = CHECKOUT / "configs" / "tiny.yaml"
OVERRIDES = (
    "data.max_train=16",
    "train.max_steps=4",
    "train.eval_every=2",
    "train.lr=1e-5",
    "eval.rationale_examples=6",
)
PNG = b"\x89PNG\r\n\x1a\n"


def qcrd(*args: str, data_root: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QCRD_PROGRESS": "0",
        "QCRD_DATA_ROOT": str(data_root),
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "250",
    }
    return subprocess.run(
        [str(QCRD), *args], cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=900
    )


@dataclass(frozen=True)
class Comparison:
    root: Path
    cfg: RunConfig
    stdout: str


@pytest.fixture(scope="session")
def comparison(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Comparison:
    root = tmp_path_factory.mktemp("compare") / "cmp"
    args = (
        "compare",
        "-c",
        str(TINY),
        "--methods",
        "ft,dss,qcrd",
        "--seeds",
        "0",
        f"run_dir={root}",
        *OVERRIDES,
    )
    result = qcrd(*args, data_root=data_root)
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = load_config(TINY, [f"run_dir={root}", f"data.root={data_root}", *OVERRIDES])
    return Comparison(root, cfg, result.stdout)


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_compare_writes_the_table_and_reuses_complete_runs(
    comparison: Comparison, data_root: Path
) -> None:
    for method in ("ft", "dss", "qcrd"):
        assert f"{method}: test accuracy " in comparison.stdout
    result = json.loads((comparison.root / "comparison" / "comparison.json").read_text())
    assert [(r["method"], r["seed"]) for r in result["runs"]] == [
        ("ft", 0),
        ("dss", 0),
        ("qcrd", 0),
    ]
    assert result["missing"] == []
    assert result["summary"]["qcrd"]["test_accuracy"]["n"] == 1
    assert result["summary"]["qcrd"]["test_accuracy"]["std"] is None
    assert sorted(p.name for p in comparison.root.iterdir()) == [
        "comparison",
        "dss-seed0",
        "ft-seed0",
        "qcrd-seed0",
        "shared",
        "teacher_cache.sqlite",
    ]
    # One teacher cache beside the runs; members hold copies of the complete stages only.
    assert (comparison.root / "teacher_cache.sqlite").is_file()
    assert not list(comparison.root.glob("*/teacher/cache.sqlite"))
    assert not (comparison.root / "ft-seed0" / "teacher").exists()

    before = {m: _files(comparison.root / m) for m in ("ft-seed0", "dss-seed0", "qcrd-seed0")}
    again = qcrd(
        "compare",
        "-c",
        str(TINY),
        "--methods",
        "ft,dss,qcrd",
        "--seeds",
        "0",
        f"run_dir={comparison.root}",
        *OVERRIDES,
        data_root=data_root,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 of 3 runs to do" in again.stderr
    assert {m: _files(comparison.root / m) for m in before} == before


def test_every_figure_is_drawn(comparison: Comparison) -> None:
    expected = {
        "qcrd-seed0/report/figures": {
            "funnel",
            "judge_densities",
            "judge_pretrain",
            "judge_trace",
            "loss_terms",
            "valid_accuracy",
        },
        "dss-seed0/report/figures": {"funnel", "loss_terms", "valid_accuracy"},
        "ft-seed0/report/figures": {"loss_terms", "valid_accuracy"},
        "comparison/figures": {"accuracy", "valid_curves"},
    }
    for folder, names in expected.items():
        pngs = sorted((comparison.root / folder).glob("*.png"))
        assert {p.stem for p in pngs} == names, folder
        for png in pngs:
            data = png.read_bytes()
            assert data.startswith(PNG) and len(data) > 2000, png


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data")]


def test_html_reports_are_self_contained(comparison: Comparison) -> None:
    pages = [
        *comparison.root.glob("*/report/report.html"),
        comparison.root / "comparison" / "comparison.html",
    ]
    assert len(pages) == 4
    for page in pages:
        parser = _Tags()
        parser.feed(page.read_text(encoding="utf-8"))
        assert not {"script", "link", "iframe", "object"} & set(parser.tags), page
        assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
        assert parser.tags.count("img") == len(parser.refs)


def test_rationale_metrics_of_a_real_run(comparison: Comparison) -> None:
    qcrd_metrics = json.loads((comparison.root / "qcrd-seed0/evaluate/metrics.json").read_text())
    cons = qcrd_metrics["rationale_consistency"]
    assert cons["examples"] == 6
    assert cons["both_parsed"] + cons["either_failed"] == 6
    assert set(qcrd_metrics["judge_scores"]) == {
        "teacher_positive",
        "teacher_negative",
        "student_negative",
        "student_rationale",
    }
    rows = list(read_jsonl(comparison.root / "qcrd-seed0/evaluate/rationales.jsonl"))
    assert len(rows) == 6 and all(0 <= r["judge_score"] <= 1 for r in rows)
    ft_metrics = json.loads((comparison.root / "ft-seed0/evaluate/metrics.json").read_text())
    assert ft_metrics["judge_scores"] is None
    assert not (comparison.root / "ft-seed0/evaluate/judge_scores.jsonl").exists()


@pytest.fixture(scope="session")
def exported(comparison: Comparison, data_root: Path) -> Path:
    """The qcrd member exported with the configuration it saved, as a user would."""
    out = comparison.root.parent / "export"
    saved = comparison.root / "qcrd-seed0" / "config.yaml"
    result = qcrd("export", "-c", str(saved), "--out", str(out), data_root=data_root)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_export_refuses_a_configuration_the_run_was_not_trained_with(
    comparison: Comparison, data_root: Path, tmp_path: Path
) -> None:
    run = comparison.root / "qcrd-seed0"
    result = qcrd(
        "export",
        "-c",
        str(TINY),
        f"run_dir={run}",
        "--out",
        str(tmp_path / "x"),
        data_root=data_root,
    )
    assert result.returncode == 1
    assert f"qcrd export -c {run / 'config.yaml'}" in " ".join(result.stdout.split())
    assert not (tmp_path / "x").exists()


def test_exported_model_reloads_with_plain_transformers(
    comparison: Comparison, exported: Path, one_torch_thread: None
) -> None:
    """Greedy label outputs of AutoModelForCausalLM from the export, prompted as its model
    card says, equal the student adapter's on the trained checkpoint, one test input at a
    time (no padding). Test inputs longer than the student's 192 input tokens check the
    card's truncation too."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = comparison.root / "qcrd-seed0"
    tokenizer = AutoTokenizer.from_pretrained(exported / "model")
    model = AutoModelForCausalLM.from_pretrained(exported / "model")
    student = load_student(comparison.cfg.student, path=run / "train" / "best")
    n_new = comparison.cfg.eval.max_new_tokens
    plain, adapter, cut = [], [], 0
    limit = comparison.cfg.student.max_input_tokens
    for ex in read_examples(run / "data" / "test.jsonl")[:8]:
        prompt = PREDICT_PREFIX + ex.input
        ids = tokenizer(prompt + "\n", add_special_tokens=False, return_tensors="pt").input_ids
        cut += ids.shape[1] > limit
        ids = ids[:, -limit:]  # as the model card says
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n_new, do_sample=False)
        plain.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip())
        adapter += student.generate([prompt], max_new_tokens=n_new)
    assert plain == adapter
    assert cut, "no prompt was long enough to check the truncation"
    assert any(plain), "every output is empty: the comparison would prove nothing"


def test_export_cards_and_data_sets(exported: Path) -> None:
    card = (exported / "model" / "README.md").read_text()
    for part in (
        "library_name: transformers",
        "## How to prompt it",
        "## Evaluation",
        "## Teacher",
        "## Data lineage and licences",
        "Provenance of `MCC-KD`",
        "Licence warning",
        "## Configuration",
    ):
        assert part in card
    pairs = list(read_jsonl(exported / "preferences" / "data.jsonl"))
    assert pairs and all(p["prompt"].startswith("explain: ") for p in pairs)
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    # The loop records its hot samples, so student negatives join the teacher ones.
    assert {p["rejected_source"] for p in pairs} == {"teacher", "student"}
    # The rationale data set is the documented import schema: it loads back as it is.
    spec = JsonlSource(
        train=str(exported / "rationales" / "data.jsonl"),
        id_field="id",
        rationales_field="rationales",
    )
    data = load_jsonl(DataConfig(task="svamp", source="jsonl", jsonl=spec))
    rows = list(read_jsonl(exported / "rationales" / "data.jsonl"))
    assert data.bad_rows.total == 0
    assert [s.id for s in data.rationales] == [r["id"] for r in rows]
    assert json.loads((exported / "export.json").read_text())["restricted_data"] == ["MCC-KD"]


def test_push_without_network_fails_with_a_clear_message(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed local port stands in for no network (nothing leaves the machine)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ExportError, match=r"could not push .*model.* retry when online"):
        push_export(exported, "someone/tiny-qcrd", token="hf_not_a_real_token")

"""docs/importing.md's worked example, run from the page itself: its files are written to a
temporary folder and go through the data, teacher (replay) and filter stages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qcrd.config import load_config
from qcrd.data.records import read_jsonl
from qcrd.pipeline import run_stages

DOC = Path(__file__).resolve().parents[3] / "docs" / "importing.md"
# "<!-- file: NAME -->" then a fenced block: the file NAME with the block's content.
_FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def doc_files() -> dict[str, str]:
    return dict(_FILE_BLOCK.findall(DOC.read_text(encoding="utf-8")))


def test_the_page_holds_the_three_example_files() -> None:
    assert set(doc_files()) == {"train.jsonl", "test.jsonl", "my_import.yaml"}


def test_the_worked_example_gives_the_table_on_the_page(tmp_path: Path) -> None:
    files = doc_files()
    data_dir = tmp_path / "my_data"
    data_dir.mkdir()
    for name in ("train.jsonl", "test.jsonl"):
        (data_dir / name).write_text(files[name] + "\n")
    config = tmp_path / "my_import.yaml"
    config.write_text(files["my_import.yaml"])
    cfg = load_config(
        config,
        [
            f"run_dir={tmp_path / 'run'}",
            f"data.jsonl.train={data_dir / 'train.jsonl'}",
            f"data.jsonl.test={data_dir / 'test.jsonl'}",
        ],
    )
    run_stages(cfg, ("data", "teacher", "filter"))

    run = tmp_path / "run"
    assert json.loads((run / "data" / "bad_rows.json").read_text())["total"] == 0
    assert [r["id"] for r in read_jsonl(run / "data" / "test.jsonl")] == ["t1"]
    rows = {r["id"]: r for r in read_jsonl(run / "filter" / "train.jsonl")}
    counts = {k: (len(r["positives"]), len(r["teacher_negatives"])) for k, r in rows.items()}
    assert counts == {"q1": (2, 1), "q2": (2, 0), "q3": (0, 1)}
    assert all("= 7" in text for text in rows["q1"]["positives"])


@pytest.mark.parametrize("name", ["train.jsonl", "test.jsonl"])
def test_every_example_line_is_one_json_object(name: str) -> None:
    for line in doc_files()[name].splitlines():
        assert isinstance(json.loads(line), dict)

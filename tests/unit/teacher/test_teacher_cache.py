"""The SQLite sample cache: keys, resume, failure recording and retry, usage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qcrd.teacher.backend import Failure, Response, Sample, SampleRequest
from qcrd.teacher.cache import Slot, TeacherCache, sample_key

PROMPT = "Q: 2 + 3?\nA:"
FIELDS = {
    "backend": "openai",
    "model": "gpt-3.5-turbo",
    "template": "svamp@1",
    "prompt": PROMPT,
    "temperature": 0.7,
    "top_p": 1.0,
    "max_tokens": 256,
    "seed": 0,
    "stop": ["\nQ:"],
}
REQUEST = SampleRequest("ex1", PROMPT, (0, 1, 2))


def slots(fields: dict[str, object] = FIELDS, k: int = 3) -> dict[int, Slot]:
    return {
        i: Slot(
            sample_key(fields, i),
            json.dumps({"model": fields["model"]}),
            str(fields["prompt"]),
            "openai:m",
        )
        for i in range(k)
    }


def test_key_is_stable_and_ignores_field_order() -> None:
    reordered = dict(reversed(list(FIELDS.items())))
    assert sample_key(FIELDS, 0) == sample_key(reordered, 0)
    assert len(sample_key(FIELDS, 0)) == 64


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backend", "local"),
        ("model", "gpt-4o-mini"),
        ("template", "svamp@2"),
        ("prompt", "Q: 2 + 4?\nA:"),
        ("temperature", 0.8),
        ("top_p", 0.9),
        ("max_tokens", 128),
        ("seed", 1),
        ("seed", None),
        ("stop", []),
    ],
)
def test_key_changes_when_any_output_changing_field_changes(name: str, value: object) -> None:
    assert sample_key({**FIELDS, name: value}, 0) != sample_key(FIELDS, 0)


def test_key_changes_with_the_sample_index() -> None:
    assert len({sample_key(FIELDS, i) for i in range(5)}) == 5


def test_samples_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    where = slots()
    with TeacherCache(path, run_id="r1") as cache:
        cache.store(Response(REQUEST, samples=(Sample(0, "a"), Sample(1, "b"))), where)
    with TeacherCache(path, run_id="r2") as cache:
        found = cache.lookup(s.key for s in where.values())
    assert {found[where[i].key].text for i in (0, 1)} == {"a", "b"}
    assert where[2].key not in found  # never stored: asked for again by the next run
    assert found[where[0].key].source == "openai:m"


def test_a_failure_is_recorded_then_replaced_by_a_later_success(tmp_path: Path) -> None:
    where = slots()
    with TeacherCache(tmp_path / "c.sqlite", run_id="r1") as cache:
        cache.store(Response(REQUEST, failures=(Failure(2, "http_503"),), attempts=6), where)
        row = cache.lookup([where[2].key])[where[2].key]
        assert (row.status, row.reason, row.attempts, row.text) == ("failed", "http_503", 6, None)
        cache.store(Response(REQUEST, failures=(Failure(2, "timeout"),), attempts=6), where)
        row = cache.lookup([where[2].key])[where[2].key]
        assert (row.reason, row.attempts) == ("timeout", 12)  # attempts add up over runs
        cache.store(
            Response(REQUEST, samples=(Sample(2, "late. The answer is 5."),), attempts=2), where
        )
        row = cache.lookup([where[2].key])[where[2].key]
    assert (row.status, row.reason, row.attempts, row.text) == (
        "ok",
        None,
        14,
        "late. The answer is 5.",
    )


def test_a_failure_never_overwrites_a_stored_sample(tmp_path: Path) -> None:
    where = slots()
    with TeacherCache(tmp_path / "c.sqlite", run_id="r1") as cache:
        cache.store(Response(REQUEST, samples=(Sample(0, "kept"),)), where)
        cache.store(Response(REQUEST, failures=(Failure(0, "timeout"),)), where)
        cache.store(Response(REQUEST, samples=(Sample(0, "second copy"),)), where)
        row = cache.lookup([where[0].key])[where[0].key]
    assert (row.status, row.text) == ("ok", "kept")


def test_blank_text_is_stored_as_empty_not_ok(tmp_path: Path) -> None:
    where = slots()
    with TeacherCache(tmp_path / "c.sqlite", run_id="r1") as cache:
        cache.store(Response(REQUEST, samples=(Sample(1, "  \n", "content_filter"),)), where)
        row = cache.lookup([where[1].key])[where[1].key]
        assert cache.counts() == {"empty": 1}
    assert (row.status, row.finish_reason) == ("empty", "content_filter")


def test_usage_is_kept_per_run(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    where = slots()
    with TeacherCache(path, run_id="r1") as cache:
        cache.store(
            Response(REQUEST, samples=(Sample(0, "a"),), prompt_tokens=100, completion_tokens=10),
            where,
        )
    with TeacherCache(path, run_id="r2") as cache:
        cache.store(
            Response(
                REQUEST,
                samples=(Sample(1, "b"),),
                prompt_tokens=50,
                completion_tokens=5,
                attempts=2,
            ),
            where,
        )
        assert cache.usage("r2") == {
            "responses": 1,
            "attempts": 2,
            "prompt_tokens": 50,
            "completion_tokens": 5,
        }
        assert cache.usage() == {
            "responses": 2,
            "attempts": 3,
            "prompt_tokens": 150,
            "completion_tokens": 15,
        }


def test_the_database_is_wal_and_a_failed_store_leaves_no_half_response(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    where = slots(k=1)  # index 1 has no slot: storing it fails mid-transaction
    with TeacherCache(path, run_id="r1") as cache:
        with pytest.raises(KeyError):
            cache.store(Response(REQUEST, samples=(Sample(0, "a"), Sample(1, "b"))), where)
        assert cache.counts() == {} and cache.usage()["responses"] == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_prompts_are_stored_once_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with TeacherCache(path, run_id="r1") as cache:
        cache.store(Response(REQUEST, samples=(Sample(0, "a"), Sample(1, "b"))), slots())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT text FROM prompts").fetchall() == [(PROMPT,)]

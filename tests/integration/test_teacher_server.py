"""The openai teacher backend against a real llama.cpp server (SmolLM2-135M) on loopback.

End to end through ``run_teacher_stage``; under injected faults; across a ``kill -9``; and
with a sentinel API key that must not reach any file. Run with ``pytest -m server``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from teacher_proxy import FAULTS, FaultProxy, Schedule, no_faults
from teacher_server import MODEL_ALIAS, files_under, llama_fixture, proxy_factory_fixture  # noqa: F401

from qcrd.config import RunConfig, build_config
from qcrd.data.records import Example, read_jsonl, write_jsonl
from qcrd.teacher.llama_server import LlamaServer
from qcrd.teacher.stage import run_teacher_stage

pytestmark = [pytest.mark.server, pytest.mark.slow]

KEY_ENV = "QCRD_TEST_TEACHER_KEY"
QUESTIONS = [
    "Mia has 14 marbles. She wins 9 more in a game. How many marbles does Mia have now?",
    "A shop sells pencils in packs of 6. Leo buys 7 packs. How many pencils does Leo buy?",
    "There are 45 birds on a wire. 17 fly away. How many birds are still on the wire?",
    "A teacher shares 56 cards equally among 8 students. How many cards does each student get?",
    "Nora reads 12 pages a day for 5 days. How many pages does she read?",
    "A bus has 38 passengers. At a stop 11 get off and 6 get on. How many passengers are on it?",
]


# A short prompt keeps each call to a second or two on a busy 2-core machine, so that only
# the injected stalls run into the client's timeout. The end-to-end test uses the real one.
TINY_TEMPLATE = """# version: tiny-1
# stop: ["\\nQ:"]
Answer with one short calculation, then "The answer is <number>."

Q: {input}
A:"""


def tiny_template(tmp_path: Path) -> str:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEMPLATE)
    return str(path)


def write_train(data_dir: Path, questions: list[str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = [Example(f"q{i}", q, "( 0 + 0 )").to_json() for i, q in enumerate(questions)]
    write_jsonl(data_dir / "train.jsonl", rows)


def teacher_tree(run_dir: Path, base_url: str, **teacher: Any) -> dict[str, Any]:
    return {
        "run_dir": str(run_dir),
        "data": {"task": "svamp"},
        "teacher": {
            "backend": "openai",
            "model": MODEL_ALIAS,
            "base_url": base_url,
            "api_key_env": KEY_ENV,
            "num_samples": 3,
            "max_tokens": 40,
            "seed": 0,
            "concurrency": 2,
            "timeout_s": 60.0,
            **teacher,
        },
    }


def config(run_dir: Path, base_url: str, **teacher: Any) -> RunConfig:
    return build_config(teacher_tree(run_dir, base_url, **teacher))


def cache_rows(path: Path) -> dict[str, tuple[str, str | None]]:
    """key -> (status, text), read through a separate connection (WAL lets it read)."""
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        try:
            rows = db.execute("SELECT key, status, text FROM samples").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return {}
    return {key: (status, text) for key, status, text in rows}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def test_openai_backend_end_to_end_through_a_real_server(
    tmp_path: Path, llama: LlamaServer
) -> None:
    write_train(tmp_path / "data", QUESTIONS[:4])
    out = tmp_path / "run" / "teacher"
    cfg = config(tmp_path / "run", llama.base_url)
    summary = run_teacher_stage(cfg, tmp_path / "data", out)

    rows = list(read_jsonl(out / "samples.jsonl"))
    assert [r["id"] for r in rows] == ["q0", "q1", "q2", "q3"]
    assert all(len(r["samples"]) == 3 for r in rows)
    assert all(
        s["text"].strip() and s["source"] == f"openai:{MODEL_ALIAS}"
        for r in rows
        for s in r["samples"]
    )
    assert (summary["requested"], summary["generated"], summary["failed"]) == (12, 12, 0)
    assert (
        summary["prompt_tokens"] > 12 * 200
        if summary["n_mode"] == "no"
        else summary["prompt_tokens"] > 4 * 200
    )
    # n detection: llama.cpp either honours n (one call per prompt) or not (a probe, then K-1
    # separate calls for its prompt and K for every other).
    expected_calls = {"yes": 4, "no": 1 + 2 + 3 * 3}[summary["n_mode"]]
    assert summary["calls"] == expected_calls
    usage = json.loads((out / "usage.json").read_text())
    assert usage["this_run"]["prompt_tokens"] == summary["prompt_tokens"] > 0

    again = run_teacher_stage(cfg, tmp_path / "data", out)
    assert (again["cached"], again["requested"], again["calls"]) == (12, 0, 0)
    assert list(read_jsonl(out / "samples.jsonl")) == rows


def test_faults_are_retried_recorded_and_nothing_completed_is_asked_twice(
    tmp_path: Path,
    proxy_factory: Callable[..., FaultProxy],
) -> None:
    questions = [*QUESTIONS[:5], "POISON " + QUESTIONS[5]]
    write_train(tmp_path / "data", questions)
    timeout_s = 20.0
    proxy = proxy_factory(Schedule(seed=7, poison="POISON"), stall_s=timeout_s + 2)
    cfg = config(
        tmp_path / "run",
        proxy.base_url,
        template=tiny_template(tmp_path),
        max_tokens=16,
        timeout_s=timeout_s,
        max_retries=6,
        retry_backoff_s=0.2,
        retry_backoff_max_s=1.0,
    )
    out = tmp_path / "run" / "teacher"
    summary = run_teacher_stage(cfg, tmp_path / "data", out)

    assert set(proxy.faults_seen()) >= set(FAULTS), proxy.faults_seen()
    assert proxy.asked_again() == [], proxy.format_log()
    # Every obtainable sample is stored; the poisoned prompt's are recorded as failures.
    assert summary["kept"] == 15 and summary["failed_by_reason"] == {"http_503": 3}
    rows = {r["id"]: r["samples"] for r in read_jsonl(out / "samples.jsonl")}
    assert rows["q5"] == [] and all(len(rows[f"q{i}"]) == 3 for i in range(5))
    failures = list(read_jsonl(out / "failures.jsonl"))
    assert {(f["id"], f["sample_index"], f["status"], f["reason"]) for f in failures} == {
        ("q5", i, "failed", "http_503") for i in range(3)
    }
    assert all(f["attempts"] >= 7 for f in failures)  # the first attempt and six retries
    retried = summary["backend_info"]["retries_by_reason"]
    assert {
        "http_429",
        "http_500",
        "http_503",
        "connection",
        "timeout",
        "malformed_response",
    } <= set(retried)

    proxy.schedule = no_faults  # the outage is over: the next run asks for the failed ones only
    healed = run_teacher_stage(cfg, tmp_path / "data", out)
    assert (healed["cached"], healed["requested"], healed["kept"], healed["complete"]) == (
        15,
        3,
        18,
        True,
    )
    assert proxy.asked_again() == [], proxy.format_log()


CHILD = """
import json, sys
from pathlib import Path
from qcrd.config import build_config
from qcrd.teacher.stage import run_teacher_stage
cfg = build_config(json.loads(Path(sys.argv[1]).read_text()))
run_teacher_stage(cfg, Path(sys.argv[2]), Path(sys.argv[3]))
"""


def test_kill_9_then_restart_asks_nothing_twice_and_matches_an_uninterrupted_run(
    tmp_path: Path,
    llama: LlamaServer,
    proxy_factory: Callable[..., FaultProxy],
) -> None:
    data_dir = tmp_path / "data"
    write_train(data_dir, QUESTIONS)
    proxy = proxy_factory()
    run_dir = tmp_path / "killed"
    out = run_dir / "teacher"
    cfg_path = tmp_path / "cfg.json"
    small = {"template": tiny_template(tmp_path), "max_tokens": 16}
    cfg_path.write_text(json.dumps(teacher_tree(run_dir, proxy.base_url, **small)))
    command = [sys.executable, "-c", CHILD, str(cfg_path), str(data_dir), str(out)]
    env = {**os.environ, "QCRD_PROGRESS": "0"}
    cache = out / "cache.sqlite"

    child = subprocess.Popen(command, env=env)
    wait_for(lambda: len(proxy.completed()) >= 3 or child.poll() is not None, 300, "3 responses")
    assert child.poll() is None, "the stage finished before it could be killed"
    # Park new requests, let the ones in flight finish and be stored, then kill: anything
    # the server delivered is then in the cache, so the restart must ask none of it again.
    proxy.hold()

    def settled() -> bool:
        delivered = sum(e.choices for e in proxy.completed())
        stored = sum(status == "ok" for status, _ in cache_rows(cache).values())
        return proxy.forwarding == 0 and proxy.held >= 1 and stored == delivered

    wait_for(settled, 120, "in-flight responses to be stored")
    child.send_signal(signal.SIGKILL)
    child.wait()
    before_restart = cache_rows(cache)
    assert 3 <= len(before_restart) < 18
    proxy.release()

    subprocess.run(command, env=env, check=True, timeout=600)
    assert proxy.asked_again() == [], proxy.format_log()
    after = cache_rows(cache)
    assert all(after[key] == row for key, row in before_restart.items())  # nothing rewritten

    reference_out = tmp_path / "reference" / "teacher"
    run_teacher_stage(
        config(tmp_path / "reference", llama.base_url, **small), data_dir, reference_out
    )
    reference = cache_rows(reference_out / "cache.sqlite")
    assert set(after) == set(reference) and len(after) == 18
    assert all(status == "ok" and text and text.strip() for status, text in after.values())
    same = sum(after[key][1] == reference[key][1] for key in after)
    logging.getLogger(__name__).info(
        "killed with %d/18 stored and %d request(s) parked; after restart %d/18 texts identical "
        "to an uninterrupted run (llama.cpp with a seed is mostly, not fully, reproducible)",
        len(before_restart),
        proxy.held,
        same,
    )


def test_kill_9_at_any_moment_loses_at_most_the_calls_in_flight(
    tmp_path: Path,
    proxy_factory: Callable[..., FaultProxy],
) -> None:
    data_dir = tmp_path / "data"
    write_train(data_dir, QUESTIONS[:4])
    proxy = proxy_factory()
    out = tmp_path / "run" / "teacher"
    cfg_path = tmp_path / "cfg.json"
    tree = teacher_tree(
        tmp_path / "run", proxy.base_url, template=tiny_template(tmp_path), max_tokens=16
    )
    cfg_path.write_text(json.dumps(tree))
    command = [sys.executable, "-c", CHILD, str(cfg_path), str(data_dir), str(out)]
    env = {**os.environ, "QCRD_PROGRESS": "0"}

    child = subprocess.Popen(command, env=env)
    wait_for(lambda: len(proxy.completed()) >= 2 or child.poll() is not None, 300, "2 responses")
    child.send_signal(signal.SIGKILL)  # wherever it is: mid-request, mid-commit, mid-parse
    child.wait()
    subprocess.run(command, env=env, check=True, timeout=600)

    # A response delivered in the instant before the kill, not yet committed, is asked
    # again: at most one per worker (concurrency 2). Nothing else is.
    assert len(proxy.asked_again()) <= 2, proxy.format_log()
    with sqlite3.connect(out / "cache.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = cache_rows(out / "cache.sqlite")
    assert len(rows) == 12 and all(status == "ok" for status, _ in rows.values())


def test_the_api_key_reaches_the_server_but_no_file(
    tmp_path: Path,
    proxy_factory: Callable[..., FaultProxy],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sentinel = f"sk-qcrd-sentinel-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, sentinel)
    write_train(tmp_path / "data", [QUESTIONS[0], "POISON " + QUESTIONS[1]])
    proxy = proxy_factory(Schedule(seed=3, faults=("503", "429"), rate=0.3, poison="POISON"))
    run_dir = tmp_path / "run"
    caplog.set_level(logging.DEBUG)
    summary = run_teacher_stage(
        config(
            run_dir,
            proxy.base_url,
            template=tiny_template(tmp_path),
            max_tokens=16,
            num_samples=2,
            max_retries=2,
            retry_backoff_s=0.1,
            retry_backoff_max_s=0.2,
        ),
        tmp_path / "data",
        run_dir / "teacher",
    )
    assert summary["failed"] == 2  # the failure path wrote its records too
    assert {e.authorization for e in proxy.entries} == {f"Bearer {sentinel}"}  # it was used

    written = files_under(run_dir)
    assert {p.name for p in written} >= {
        "samples.jsonl",
        "failures.jsonl",
        "usage.json",
        "cache.sqlite",
    }
    for path in written:
        assert sentinel.encode() not in path.read_bytes(), path
    assert sentinel not in caplog.text

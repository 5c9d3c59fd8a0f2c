"""Replay subsetting and the prompt template files."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from qcrd.data.records import Rationale, RationaleSet
from qcrd.tasks import get_task
from qcrd.teacher.backend import Response, SampleRequest, SamplingParams, TeacherError
from qcrd.teacher.prompts import available_templates, load_template, parse_template
from qcrd.teacher.replay_backend import SHORT_REASON, ReplayBackend, replay_order


def ten(example_id: str) -> RationaleSet:
    return RationaleSet(
        example_id, tuple(Rationale(f"{example_id}-r{i}", "mcckd:gpt") for i in range(10))
    )


def replay(backend: ReplayBackend, request: SampleRequest, seed: int | None) -> Response:
    async def one() -> Response:
        (response,) = [
            r async for r in backend.generate([request], SamplingParams(0.7, 1.0, 64, seed))
        ]
        return response

    return asyncio.run(one())


def test_replay_order_is_a_seeded_permutation() -> None:
    order = replay_order(10, "q1", seed=0)
    assert sorted(order) == list(range(10)) and order != list(range(10))
    assert replay_order(10, "q1", seed=0) == order
    assert replay_order(10, "q1", seed=1) != order
    assert replay_order(10, "q2", seed=0) != order
    assert replay_order(10, "q1", seed=None) == list(range(10))


def test_replay_order_is_the_same_in_another_process() -> None:
    # Seeding from a string hashes it with SHA-512, not hash(): PYTHONHASHSEED cannot move it.
    code = "from qcrd.teacher.replay_backend import replay_order; print(replay_order(10, 'q1', 0))"
    env_seed = {"PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env_seed
    )
    assert other.stdout.strip() == str(replay_order(10, "q1", 0))


def test_replay_subset_of_k_is_a_prefix_of_larger_k() -> None:
    backend = ReplayBackend([ten("q1")], digest="d")
    five = replay(backend, SampleRequest("q1", "p", tuple(range(5))), seed=3)
    three = replay(backend, SampleRequest("q1", "p", tuple(range(3))), seed=3)
    assert [s.text for s in three.samples] == [s.text for s in five.samples][:3]
    assert len({s.text for s in five.samples}) == 5
    assert {s.source for s in five.samples} == {"mcckd:gpt"}


def test_replay_records_missing_samples_when_an_example_has_fewer_than_k() -> None:
    short = RationaleSet("q1", (Rationale("only one", "x"), Rationale("and two", "x")))
    backend = ReplayBackend([short], digest="d")
    response = replay(backend, SampleRequest("q1", "p", (0, 1, 2, 3)), seed=0)
    assert len(response.samples) == 2
    assert [(f.index, f.reason) for f in response.failures] == [
        (2, SHORT_REASON),
        (3, SHORT_REASON),
    ]


def test_replay_refuses_an_example_without_rationales() -> None:
    backend = ReplayBackend([ten("q1"), RationaleSet("q2", ())], digest="d")
    for missing in ("q2", "q3"):
        with pytest.raises(TeacherError, match=missing):
            replay(backend, SampleRequest(missing, "p", (0,)), seed=0)


def test_replay_keys_depend_on_file_id_and_seed_not_on_prompt() -> None:
    backend = ReplayBackend([ten("q1")], digest="d1")
    params = SamplingParams(0.7, 1.0, 64, 0)
    key = backend.key_fields(SampleRequest("q1", "p", (0,)), "svamp@1", params)
    assert key == backend.key_fields(SampleRequest("q1", "other prompt", (0,)), "svamp@2", params)
    assert key != backend.key_fields(SampleRequest("q2", "p", (0,)), "svamp@1", params)
    other_file = ReplayBackend([ten("q1")], digest="d2")
    assert key != other_file.key_fields(SampleRequest("q1", "p", (0,)), "svamp@1", params)


# --- templates ---------------------------------------------------------------------------

CUES = {
    "svamp": "The answer is",
    "cqa": "So the answer is (",
    "anli1": "So the answer is",
    "esnli": "So the answer is",
}


@pytest.mark.parametrize("name", ["svamp", "cqa", "anli1", "esnli"])
def test_every_shipped_template_parses_and_its_examples_parse_with_the_task(name: str) -> None:
    template = load_template(name)
    assert template.version and template.ref == f"{name}@{template.version}"
    assert not template.body.startswith("#")
    rendered = template.render("THE INPUT")
    assert "{input}" not in rendered and "THE INPUT" in rendered
    # Every few-shot answer ends in the cue its task's extractor reads.
    answers = [line for line in template.body.splitlines() if line.startswith("A: ")]
    assert 3 <= len(answers) <= 4
    task = get_task(name)
    for answer in answers:
        assert CUES[name] in answer
        assert task.extract_answer(answer, choices_of(template.body, answer)).ok, answer


def choices_of(body: str, answer_line: str) -> tuple[str, ...]:
    """The lettered choices of the CQA question just above ``answer_line`` (else none)."""
    block = body.split(answer_line)[0].rsplit("Q: ", 1)[-1]
    return tuple(line[4:] for line in block.splitlines() if line[:1] == "(" and line[2:3] == ")")


def test_template_needs_a_version_and_one_placeholder() -> None:
    with pytest.raises(ValueError, match="version"):
        parse_template("t", "# comment\nQ: {input}\nA:")
    with pytest.raises(ValueError, match="exactly once"):
        parse_template("t", "# version: 1\nQ: {input} {input}")
    template = parse_template("t", "# version: 2b\n\nLiteral {braces} stay.\nQ: {input}\nA:")
    assert (template.version, template.stop) == ("2b", ())
    assert template.render("x") == "Literal {braces} stay.\nQ: x\nA:"


def test_template_stop_sequences_are_a_json_list() -> None:
    template = parse_template("t", '# version: 1\n# stop: ["\\nQ:", "###"]\nQ: {input}\nA:')
    assert template.stop == ("\nQ:", "###")
    with pytest.raises(ValueError, match="stop"):
        parse_template("t", "# version: 1\n# stop: \\nQ:\nQ: {input}")
    assert load_template("svamp").stop == ("\nQ:",) and load_template("esnli").stop == (
        "\npremise:",
    )


def test_templates_load_by_path_and_list(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# version: 7\nQ: {input}\nA:")
    assert load_template(str(path)).ref == "mine@7"
    assert set(available_templates()) >= {"svamp", "cqa", "anli1", "esnli"}
    with pytest.raises(ValueError, match="no prompt template"):
        load_template("nope")

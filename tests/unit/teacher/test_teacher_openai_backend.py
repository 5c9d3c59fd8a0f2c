"""The openai backend against a scripted client: n detection, retries, limits, keys."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from teacher_fakes import (
    FakeClient,
    FakeClock,
    completion,
    connection_error,
    ignores_n,
    obeys_n,
    status_error,
    timeout_error,
)

from qcrd.config import TeacherConfig
from qcrd.teacher.backend import Response, SampleRequest, SamplingParams, TeacherError
from qcrd.teacher.openai_backend import (
    LOCAL_PLACEHOLDER_KEY,
    OpenAIBackend,
    classify,
    redact_url,
    resolve_api_key,
)

PARAMS = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=64, seed=10, stop=("\nQ:",))


def make(
    client: FakeClient, clock: FakeClock | None = None, **overrides: Any
) -> tuple[OpenAIBackend, FakeClock]:
    clock = clock or FakeClock()
    settings = {"model": "m", "max_retries": 3, "retry_backoff_s": 1.0, **overrides}
    cfg = TeacherConfig(**settings)
    backend = OpenAIBackend(
        cfg,
        client=client,
        clock=clock,
        wall_clock=lambda: 1e9,
        sleep=clock.sleep,
        rng=random.Random(0),
    )
    return backend, clock


def run(backend: OpenAIBackend, requests: list[SampleRequest]) -> list[Response]:
    async def collect() -> list[Response]:
        return [r async for r in backend.generate(requests, PARAMS)]

    return asyncio.run(collect())


def requests(n_prompts: int, k: int) -> list[SampleRequest]:
    return [SampleRequest(f"id{i}", f"prompt {i}", tuple(range(k))) for i in range(n_prompts)]


def by_index(responses: list[Response]) -> dict[tuple[str, int], str]:
    return {(r.request.example_id, s.index): s.text for r in responses for s in r.samples}


# --- n detection -------------------------------------------------------------------------


def test_auto_detects_a_server_that_obeys_n_and_asks_once_per_prompt() -> None:
    client = FakeClient(obeys_n)
    backend, _ = make(client, n_per_request="auto")
    responses = run(backend, requests(4, k=5))
    assert backend.n_mode == "yes"
    assert len(client.calls) == 4  # one call per prompt
    assert all(call["n"] == 5 and call["seed"] == 10 for call in client.calls)
    assert all(call["stop"] == ["\nQ:"] and call["max_tokens"] == 64 for call in client.calls)
    assert len(by_index(responses)) == 20


def test_auto_detects_a_server_that_ignores_n_and_falls_back_to_separate_calls() -> None:
    client = FakeClient(ignores_n)
    backend, _ = make(client, n_per_request="auto")
    responses = run(backend, requests(3, k=4))
    assert backend.n_mode == "no"
    # The probe's single choice is kept as sample 0; the rest are asked one by one.
    assert len(client.calls) == 3 * 4
    assert sum("n" in call for call in client.calls) == 1  # only the probe asked for n>1
    samples = by_index(responses)
    assert len(samples) == 12
    for i in range(3):  # seed + index: K distinct samples, not one sample K times
        assert [samples[(f"id{i}", j)] for j in range(4)] == [
            f"s{10 + j}. The answer is 1." for j in range(4)
        ]


def test_auto_falls_back_when_the_server_rejects_n_with_400() -> None:
    def rejects_n(kwargs: dict[str, Any], number: int) -> Any:
        return status_error(400) if kwargs.get("n", 1) > 1 else completion(["ok. The answer is 2."])

    client = FakeClient(rejects_n)
    backend, _ = make(client, n_per_request="auto")
    responses = run(backend, requests(2, k=3))
    assert backend.n_mode == "no"
    assert len(by_index(responses)) == 6
    assert all(not r.failures for r in responses)


def test_n_no_never_sends_n() -> None:
    client = FakeClient(obeys_n)
    backend, _ = make(client, n_per_request="no")
    run(backend, requests(2, k=3))
    assert len(client.calls) == 6 and all("n" not in call for call in client.calls)


def test_forced_yes_keeps_partial_choices_and_asks_for_the_rest() -> None:
    client = FakeClient(ignores_n)
    backend, _ = make(client, n_per_request="yes")
    responses = run(backend, requests(1, k=3))
    assert [call.get("n", 1) for call in client.calls] == [3, 2, 1]
    assert len(by_index(responses)) == 3


def test_only_the_missing_indices_are_asked_with_matching_seeds() -> None:
    client = FakeClient(obeys_n)
    backend, _ = make(client, n_per_request="yes")
    responses = run(backend, [SampleRequest("a", "p", (2, 4))])
    assert client.calls[0]["n"] == 2 and client.calls[0]["seed"] == 12
    assert sorted(s.index for r in responses for s in r.samples) == [2, 4]


# --- retries and back-off ----------------------------------------------------------------


def test_429_waits_at_least_retry_after_then_succeeds() -> None:
    def flaky(kwargs: dict[str, Any], number: int) -> Any:
        return status_error(429, {"retry-after": "7"}) if number < 2 else obeys_n(kwargs, number)

    client = FakeClient(flaky)
    backend, clock = make(client, n_per_request="yes")
    responses = run(backend, requests(1, k=2))
    assert responses[0].attempts == 3 and not responses[0].failures
    assert len(clock.sleeps) >= 2 and all(s >= 7 for s in clock.sleeps)
    assert backend.retries_by_reason == {"http_429": 2}


def test_exhausted_retries_record_one_failure_per_sample_with_attempts() -> None:
    client = FakeClient(lambda kwargs, number: status_error(503))
    backend, clock = make(client, n_per_request="yes", max_retries=3)
    responses = run(backend, requests(1, k=2))
    assert len(client.calls) == 4  # the first attempt plus three retries
    (response,) = responses
    assert response.attempts == 4 and not response.samples
    assert [(f.index, f.reason) for f in response.failures] == [(0, "http_503"), (1, "http_503")]
    # Exponential back-off with jitter: attempt a waits within [d/2, d], d = 2**(a-1).
    for attempt, slept in enumerate(clock.sleeps, start=1):
        assert 2 ** (attempt - 1) / 2 <= slept <= 2 ** (attempt - 1)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (timeout_error(), "timeout"),
        (connection_error(), "connection"),
        (TimeoutError(), "timeout"),
        (json.JSONDecodeError("Expecting value", "{", 1), "malformed_response"),
        (completion([]), "malformed_response"),  # a 200 without choices
        (status_error(500), "http_500"),
        (status_error(408), "http_408"),
    ],
)
def test_transient_errors_are_retried_and_named(error: Any, reason: str) -> None:
    def script(kwargs: dict[str, Any], number: int) -> Any:
        return error if number == 0 else obeys_n(kwargs, number)

    client = FakeClient(script)
    backend, _ = make(client, n_per_request="yes")
    responses = run(backend, requests(1, k=1))
    assert responses[0].attempts == 2 and len(responses[0].samples) == 1
    assert backend.retries_by_reason == {reason: 1}


def test_a_bad_request_is_not_retried() -> None:
    client = FakeClient(lambda kwargs, number: status_error(422))
    backend, _ = make(client, n_per_request="no")
    (response,) = run(backend, requests(1, k=1))
    assert len(client.calls) == 1 and response.failures[0].reason == "http_422"


def test_authentication_failure_stops_the_run_without_quoting_the_key() -> None:
    client = FakeClient(lambda kwargs, number: status_error(401))
    backend, _ = make(client, n_per_request="no")
    with pytest.raises(TeacherError) as caught:
        run(backend, requests(3, k=1))
    assert "http_401" in str(caught.value) and "SECRET" not in str(caught.value)


def test_classify_passes_unknown_exceptions_through() -> None:
    assert classify(KeyError("bug"), 0.0) is None
    verdict = classify(status_error(503, {"retry-after-ms": "1500"}), 0.0)
    assert verdict is not None and verdict.retryable and verdict.retry_after == 1.5


# --- limits ------------------------------------------------------------------------------


def test_concurrency_limit_is_respected() -> None:
    client = FakeClient(obeys_n, delay=0.001)
    backend, _ = make(client, n_per_request="no", concurrency=3)
    run(backend, requests(12, k=1))
    assert client.max_in_flight == 3


def test_requests_per_minute_paces_calls_on_the_injected_clock() -> None:
    client = FakeClient(obeys_n)
    backend, clock = make(client, n_per_request="no", requests_per_minute=60.0, concurrency=4)
    run(backend, requests(25, k=1))
    # A burst of 10 (ten seconds' worth), then one a second: the 25th call starts at t=15.
    assert len(client.calls) == 25
    assert clock.now == pytest.approx(15.0)


# --- keys ------------------------------------------------------------------------------


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCRD_TEST_KEY", "sk-from-env")
    assert resolve_api_key(TeacherConfig(api_key_env="QCRD_TEST_KEY")) == "sk-from-env"


def test_a_loopback_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QCRD_TEST_KEY", raising=False)
    local = TeacherConfig(api_key_env="QCRD_TEST_KEY", base_url="http://127.0.0.1:8080/v1")
    assert resolve_api_key(local) == LOCAL_PLACEHOLDER_KEY
    remote = TeacherConfig(api_key_env="QCRD_TEST_KEY", base_url="https://api.example.com/v1")
    with pytest.raises(TeacherError, match="QCRD_TEST_KEY"):
        resolve_api_key(remote)
    with pytest.raises(TeacherError):
        resolve_api_key(TeacherConfig(api_key_env="QCRD_TEST_KEY"))


def test_redact_url_drops_credentials_and_query() -> None:
    assert (
        redact_url("https://user:pw@host.example:8443/v1?key=abc#x")
        == "https://host.example:8443/v1"
    )

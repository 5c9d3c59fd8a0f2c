"""Pytest fixtures for a real llama.cpp OpenAI-compatible server on loopback.

Import the fixtures into a test module (``from teacher_server import llama_fixture,
proxy_factory_fixture``; they register as ``llama`` and ``proxy_factory``); the server starts
once per module that uses it and is stopped at teardown. Tests using it
carry ``@pytest.mark.server``; they are skipped, with the reason, when the optional
``llama-cpp-python[server]`` dependency is not installed (``pip install -e '.[server]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from teacher_proxy import FaultProxy, no_faults

from qcrd.teacher.llama_server import LlamaServer, llama_server, server_available, smollm2_gguf

MODEL_ALIAS = "smollm2-135m-teacher"


@pytest.fixture(scope="module", name="llama")
def llama_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """SmolLM2-135M-Instruct served by ``python -m llama_cpp.server`` on a free port."""
    if not server_available():
        pytest.skip("llama-cpp-python[server] is not installed (pip install -e '.[server]')")
    log_file = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server(smollm2_gguf(), alias=MODEL_ALIAS, log_file=log_file) as server:
        yield server


ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture(name="proxy_factory")
def proxy_factory_fixture(llama: LlamaServer) -> Iterator[ProxyFactory]:
    """Start fault proxies in front of ``llama``; all are stopped at teardown."""
    started: list[FaultProxy] = []

    def make(schedule: Callable[..., str | None] = no_faults, stall_s: float = 12.0) -> FaultProxy:
        proxy = FaultProxy(llama.port, schedule, stall_s=stall_s).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())

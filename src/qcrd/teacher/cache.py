"""The teacher request cache: a SQLite database written as each response arrives.

One row per sample: (backend, model, template version, rendered prompt, sampling params,
sample index), addressed by :func:`sample_key`, a SHA-256 over exactly the fields that change
the output. What goes into the hash is the backend's choice (``TeacherBackend.key_fields``);
for the ``openai`` backend it is the model name, the template, the prompt, temperature,
top_p, max_tokens, seed and stop sequences (``replay``: the rationale file's hash, the example
id and the seed). Whether K samples came from one ``n=K`` call or K calls is not in it: either
way sample ``i`` is a draw at the same settings, and a run that switches mode must not pay for
what it holds. The ``base_url`` and the API key are *not* in it: the key is a
secret, and the same model moves between URLs (a local server on a fresh port, a gateway in
front of OpenAI) without its output changing; re-paying for identical samples because a URL
changed is the worse failure. Serving different weights under one model name is the case
this gets wrong: give them different names, or separate ``cache_path`` s.

Rows have a status:
- ``ok``: a usable sample; final.
- ``empty``: the call succeeded but the text is blank (e.g. a content filter); final, since
  asking again is paid for and, with a seed, returns the same; never passed on as a rationale.
- ``failed``: no sample after all retries; the reason and the attempts so far are kept, and
  the next run asks again.

The database runs in WAL mode and commits once per response, so a killed process loses at
most the responses in flight, and readers (a progress monitor, a test) never block the writer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from qcrd.teacher.backend import Response

SCHEMA_VERSION = 1
Status = Literal["ok", "empty", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    n_samples INTEGER NOT NULL,
    n_failed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY,
    fields TEXT NOT NULL,             -- JSON of the hashed fields, prompt replaced by its sha256
    sample_index INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'empty', 'failed')),
    text TEXT,
    source TEXT,
    finish_reason TEXT,
    reason TEXT,                      -- why it failed (a short code), else NULL
    attempts INTEGER NOT NULL,        -- calls made for this sample over all runs
    response_id INTEGER REFERENCES responses(id),
    updated_at REAL NOT NULL
);
"""


def sample_key(fields: Mapping[str, Any], index: int) -> str:
    """SHA-256 (hex) of the canonical JSON of ``fields`` plus the sample index."""
    body = json.dumps({**fields, "sample_index": index}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def prompt_sha(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedSample:
    key: str
    index: int
    status: Status
    text: str | None
    source: str | None
    finish_reason: str | None
    reason: str | None
    attempts: int


@dataclass(frozen=True)
class Slot:
    """Where a response's sample goes: its key and the hashed fields (for the row)."""

    key: str
    fields_json: str
    prompt: str
    source: str


class TeacherCache:
    """A SQLite sample cache; use as a context manager, or call :meth:`close`.

    Args:
        path: database file (created with its parent folders), or ``":memory:"``.
        run_id: tags the responses stored by this process, for per-run usage.
    """

    def __init__(self, path: Path | str, run_id: str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self._db = sqlite3.connect(str(path), isolation_level=None)  # explicit transactions
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process (it is in the OS), only
        # a power cut can lose the last few; the file is never corrupted either way.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        found = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif found[0] != str(SCHEMA_VERSION):
            raise RuntimeError(
                f"{path} is a teacher cache of schema {found[0]}, this code reads "
                f"{SCHEMA_VERSION}: point teacher.cache_path elsewhere"
            )

    def __enter__(self) -> TeacherCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def lookup(self, keys: Iterable[str]) -> dict[str, CachedSample]:
        """The stored rows among ``keys`` (absent keys are simply missing from the result)."""
        found: dict[str, CachedSample] = {}
        key_list = list(keys)
        for start in range(0, len(key_list), 500):  # stay under SQLite's variable limit
            chunk = key_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, sample_index, status, text, source, finish_reason, reason, attempts "
                f"FROM samples WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = CachedSample(*row)
        return found

    def store(self, response: Response, slots: Mapping[int, Slot]) -> None:
        """Write one response's samples and failures in one transaction.

        Args:
            response: what the backend returned for one call.
            slots: for each sample index of the response's request, where it goes.

        A ``failed`` row never overwrites an ``ok`` or ``empty`` one (a late failure of a
        duplicate request must not destroy a sample already paid for).
        """
        now = time.time()
        with self._transaction():
            cur = self._db.execute(
                "INSERT INTO responses (run_id, created_at, attempts, prompt_tokens, "
                "completion_tokens, n_samples, n_failed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.run_id,
                    now,
                    response.attempts,
                    response.prompt_tokens,
                    response.completion_tokens,
                    len(response.samples),
                    len(response.failures),
                ),
            )
            response_id = cur.lastrowid
            for sample in response.samples:
                slot = slots[sample.index]
                status: Status = "ok" if sample.text.strip() else "empty"
                self._remember_prompt(slot)
                self._db.execute(
                    "INSERT INTO samples (key, fields, sample_index, status, text, source, "
                    "finish_reason, reason, attempts, response_id, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET status=excluded.status, text=excluded.text, "
                    "source=excluded.source, finish_reason=excluded.finish_reason, reason=NULL, "
                    "attempts=samples.attempts + excluded.attempts, "
                    "response_id=excluded.response_id, updated_at=excluded.updated_at "
                    "WHERE samples.status = 'failed'",
                    (
                        slot.key,
                        slot.fields_json,
                        sample.index,
                        status,
                        sample.text,
                        sample.source or slot.source,
                        sample.finish_reason,
                        response.attempts,
                        response_id,
                        now,
                    ),
                )
            for failure in response.failures:
                slot = slots[failure.index]
                self._remember_prompt(slot)
                self._db.execute(
                    "INSERT INTO samples (key, fields, sample_index, status, text, "
                    "finish_reason, reason, attempts, response_id, updated_at) "
                    "VALUES (?, ?, ?, 'failed', NULL, NULL, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET reason=excluded.reason, "
                    "attempts=samples.attempts + excluded.attempts, "
                    "response_id=excluded.response_id, updated_at=excluded.updated_at "
                    "WHERE samples.status = 'failed'",
                    (
                        slot.key,
                        slot.fields_json,
                        failure.index,
                        failure.reason,
                        response.attempts,
                        response_id,
                        now,
                    ),
                )

    def usage(self, run_id: str | None = None) -> dict[str, int]:
        """Calls and tokens recorded, for one run or (``None``) all runs of this cache."""
        where, args = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(attempts), 0), COALESCE(SUM(prompt_tokens), 0), "
            f"COALESCE(SUM(completion_tokens), 0) FROM responses {where}",
            args,
        ).fetchone()
        return {
            "responses": row[0],
            "attempts": row[1],
            "prompt_tokens": row[2],
            "completion_tokens": row[3],
        }

    def counts(self) -> dict[str, int]:
        """Rows by status over the whole cache."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM samples GROUP BY status")
        return {status: n for status, n in rows}

    def iter_keys(self) -> Iterator[tuple[str, Status, str | None]]:
        """(key, status, text) of every row, in key order (for comparing two caches)."""
        yield from self._db.execute("SELECT key, status, text FROM samples ORDER BY key")

    def _remember_prompt(self, slot: Slot) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO prompts VALUES (?, ?)", (prompt_sha(slot.prompt), slot.prompt)
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # The connection is in autocommit mode; BEGIN IMMEDIATE takes the write lock up front.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

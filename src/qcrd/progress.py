"""Progress bars for long loops (rich), silenced for tests and non-interactive logs.

Set QCRD_PROGRESS=0 to turn bars off; they are also off when stderr is not a terminal unless
QCRD_PROGRESS=1 forces them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def enabled() -> bool:
    flag = os.environ.get("QCRD_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A rich Progress with count, ETA and a free-text status field (``status=...``)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=not enabled(),
        transient=False,
    )
    with bar:
        yield bar

"""Few-shot chain-of-thought prompt templates, one text file per task under ``prompts/``.

A template file starts with metadata lines beginning with ``#``; one of them must be
``# version: <v>``. The version is part of every cache key, so editing a template's examples
without bumping its version would silently mix samples from two prompts: bump it. An optional
``# stop: ["\nQ:"]`` (a JSON list) gives stop sequences: a few-shot prompt invites a model to
go on writing invented questions after its answer (SmolLM2 does), whose answer cues would then
be read instead of the real one. The body that follows is sent as the user message, with
``{input}`` replaced by ``Example.input``.
Substitution is a plain string replacement (not ``str.format``), so braces in few-shot
examples need no escaping.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PLACEHOLDER = "{input}"
_VERSION = re.compile(r"^#\s*version:\s*(\S+)\s*$")
_STOP = re.compile(r"^#\s*stop:\s*(.+)$")


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template.

    Attributes:
        name: the template's name (the file stem, e.g. ``svamp``).
        version: the version string from the ``# version:`` line.
        body: the text sent to the teacher, holding exactly one ``{input}``.
        stop: stop sequences sent with every request.
    """

    name: str
    version: str
    body: str
    stop: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name@version``, the form stored with every sample and in cache keys."""
        return f"{self.name}@{self.version}"

    def render(self, task_input: str) -> str:
        return self.body.replace(PLACEHOLDER, task_input.strip())


def parse_template(name: str, text: str) -> PromptTemplate:
    """Split a template file into its version and body; raise ``ValueError`` if malformed."""
    lines = text.splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    versions = [m.group(1) for line in header if (m := _VERSION.match(line))]
    if len(versions) != 1:
        raise ValueError(f"prompt template {name!r} needs one '# version: <v>' line in its header")
    version = versions[0]
    stops: list[str] = []
    for line in header:
        if m := _STOP.match(line):
            try:
                stops = json.loads(m.group(1))
            except ValueError:
                stops = [""]  # rejected just below
            if not isinstance(stops, list) or not all(isinstance(x, str) and x for x in stops):
                raise ValueError(
                    f"prompt template {name!r}: '# stop:' needs a JSON list of strings"
                )
    body = "\n".join(lines[len(header) :]).strip("\n")
    if body.count(PLACEHOLDER) != 1:
        raise ValueError(
            f"prompt template {name!r} must contain {PLACEHOLDER} exactly once "
            f"(found {body.count(PLACEHOLDER)})"
        )
    return PromptTemplate(name=name, version=version, body=body, stop=tuple(stops))


def available_templates() -> list[str]:
    folder = resources.files("qcrd.teacher") / "prompts"
    return sorted(p.name.removesuffix(".txt") for p in folder.iterdir() if p.name.endswith(".txt"))


def load_template(name_or_path: str) -> PromptTemplate:
    """A shipped template by name (``svamp``, ``cqa``, ``anli1``, ``esnli``) or a file path."""
    path = Path(name_or_path)
    if path.suffix == ".txt" and path.is_file():
        return parse_template(path.stem, path.read_text(encoding="utf-8"))
    resource = resources.files("qcrd.teacher") / "prompts" / f"{name_or_path}.txt"
    if not resource.is_file():
        raise ValueError(
            f"no prompt template {name_or_path!r}; shipped: {', '.join(available_templates())} "
            "(or give the path of a .txt file)"
        )
    return parse_template(name_or_path, resource.read_text(encoding="utf-8"))

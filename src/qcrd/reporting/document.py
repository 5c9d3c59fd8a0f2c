"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML file.

Both renderings come from the same blocks, so they say the same thing. Model output is
untrusted: it only ever enters a report as :class:`Verbatim` text (a fenced block in Markdown,
an escaped ``<pre>`` in HTML), and every other string is escaped too. The HTML has no external
asset: figures are inlined as base64 ``data:`` URIs, the style sheet is inline, there is no
script, and a Content-Security-Policy forbids loading anything else.

    blocks = [Heading("Result"), Paragraph(("accuracy ", Strong("42.00%"))), Figure(png, "loss")]
    md = to_markdown(blocks, base=report_dir)
    page = to_html(blocks, title="qcrd run")
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Code:
    """Inline code (a key, a file name, a model id)."""

    text: str


@dataclass(frozen=True)
class Strong:
    text: str


Inline = str | Code | Strong


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    """A PNG written beside the report."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Verbatim:
    """Untrusted or preformatted text (model output, a config dump), shown as it is."""

    text: str
    title: str = ""


@dataclass(frozen=True)
class Note:
    """Why a section is missing or what to keep in mind (shown in italics)."""

    text: str


Block = Heading | Paragraph | Bullets | Table | Figure | Verbatim | Note


def para(*parts: Inline) -> Paragraph:
    return Paragraph(parts)


# C0/C1 control characters other than tab and newline: a model can write any byte, and these
# would vanish (or break a terminal) instead of showing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with control characters written out as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# --- Markdown ------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: str) -> str:
    """Backslash-escape the characters Markdown would read as syntax (or HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", visible(text))


def _fence(text: str, char: str, minimum: int) -> str:
    """A run of ``char`` longer than any run of it inside ``text`` (CommonMark's rule)."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(minimum, longest + 1)


def _md_inline(parts: Sequence[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code):
            text = " ".join(visible(part.text).split())
            fence = _fence(text, "`", 1)
            pad = " " if text.startswith("`") or text.endswith("`") else ""
            out.append(f"{fence}{pad}{text}{pad}{fence}")
        elif isinstance(part, Strong):
            out.append(f"**{md_escape(part.text)}**")
        else:
            out.append(md_escape(part))
    return "".join(out)


def _md_cell(text: str) -> str:
    return md_escape(" ".join(text.split())) or " "


def _md_block(block: Block, base: Path) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {md_escape(block.text)}"
    if isinstance(block, Paragraph):
        return _md_inline(block.parts)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md_inline(item)}" for item in block.items)
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(_md_cell(h) for h in block.header) + " |",
            "|" + "---|" * len(block.header),
        ]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Figure):
        rel = Path(os.path.relpath(block.path, base)).as_posix()
        return f"![{md_escape(block.caption)}]({rel})\n\n*{md_escape(block.caption)}*"
    if isinstance(block, Verbatim):
        text = visible(block.text)
        fence = _fence(text, "`", 3)
        title = f"{_md_inline((Strong(block.title),))}\n\n" if block.title else ""
        return f"{title}{fence}text\n{text}\n{fence}"
    return f"*{md_escape(block.text)}*"


def to_markdown(blocks: Sequence[Block], base: Path) -> str:
    """The report as Markdown; figure links are relative to ``base`` (the report's folder)."""
    return "\n\n".join(_md_block(b, base) for b in blocks) + "\n"


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1d1d1f; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .7em; white-space: pre-wrap;
      overflow-wrap: anywhere; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { color: #555; font-style: italic; }
"""

# Nothing may be fetched: images are data: URIs, style is inline, scripts are not allowed.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _esc(text: str) -> str:
    return html.escape(visible(text), quote=True)


def _html_inline(parts: Sequence[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code):
            out.append(f"<code>{_esc(part.text)}</code>")
        elif isinstance(part, Strong):
            out.append(f"<strong>{_esc(part.text)}</strong>")
        else:
            out.append(_esc(part))
    return "".join(out)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        return f"<h{level}>{_esc(block.text)}</h{level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_html_inline(block.parts)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_esc(h)}</th>" for h in block.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        return (
            f'<figure><img alt="{_esc(block.caption)}" src="{_data_uri(block.path)}">'
            f"<figcaption>{_esc(block.caption)}</figcaption></figure>"
        )
    if isinstance(block, Verbatim):
        title = f"<p><strong>{_esc(block.title)}</strong></p>" if block.title else ""
        return f"{title}<pre>{_esc(block.text)}</pre>"
    return f'<p class="note">{_esc(block.text)}</p>'


def to_html(blocks: Sequence[Block], title: str) -> str:
    """The report as one HTML page with everything inlined (see the module docstring)."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )

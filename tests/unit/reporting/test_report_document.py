"""Report blocks rendered to Markdown and HTML: untrusted text stays text, nothing is fetched."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qcrd.reporting.document import (
    Bullets,
    Code,
    Figure,
    Heading,
    Note,
    Strong,
    Table,
    Verbatim,
    md_escape,
    para,
    to_html,
    to_markdown,
    visible,
)

HOSTILE = '<script>alert("x")</script> <img src="http://evil.example/a.png"> ``` | **b** &amp;'


class Fetches(HTMLParser):
    """Collects every tag, and every attribute that would make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.fetching: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action") and value is not None:
                self.fetching.append((name, value))


def parse(page: str) -> Fetches:
    parser = Fetches()
    parser.feed(page)
    return parser


@pytest.fixture
def png(tmp_path: Path) -> Path:
    """A real 1x1 PNG (the signature and a few bytes are enough for the data URI check)."""
    path = tmp_path / "figures" / "one.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    return path


def blocks(png: Path) -> list:
    return [
        Heading("Title <b>", 1),
        para("plain ", Code("a`b"), " and ", Strong("bold")),
        Bullets((("item ", Code("x")),)),
        Table(("key", "value | with pipe"), (("a|b", HOSTILE),)),
        Figure(png, "a figure"),
        Verbatim(HOSTILE, title="Student rationale"),
        Note("a note"),
    ]


def test_html_escapes_untrusted_text_and_fetches_nothing(png: Path) -> None:
    page = to_html(blocks(png), title="t <script>")
    found = parse(page)
    assert "script" not in found.tags
    assert found.tags.count("img") == 1  # the figure; the hostile <img> is text
    assert [(n, v[:22]) for n, v in found.fetching] == [("src", "data:image/png;base64,")]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # the Content-Security-Policy


def test_no_http_reference_anywhere_in_attributes(png: Path) -> None:
    page = to_html(blocks(png), title="t")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page, re.IGNORECASE)


def test_markdown_fences_verbatim_text_longer_than_its_backtick_runs(png: Path) -> None:
    """The hostile text holds a run of 3 backticks: its fence must be 4 long."""
    md = to_markdown(blocks(png), base=png.parent.parent)
    assert f"````text\n{HOSTILE}\n````" in md
    assert "![a figure](figures/one.png)" in md
    assert "| a\\|b |" in md  # a pipe cannot split a cell
    assert "``a`b``" in md  # inline code with a backtick inside


def test_markdown_escapes_syntax_in_plain_text() -> None:
    assert md_escape("a_b *c* <d> [e](f) #1") == r"a\_b \*c\* \<d\> \[e\](f) \#1"


def test_control_characters_are_written_out() -> None:
    """A random student writes bytes like 0x18: shown as \\x18, tab and newline kept."""
    assert visible("a\x18b\tc\nd\x7f") == "a\\x18b\tc\nd\\x7f"
    page = to_html([Verbatim("x\x00y")], title="t")
    assert "x\\x00y" in page and "\x00" not in page

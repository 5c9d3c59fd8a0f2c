"""Render a qcrd HTML report in headless Chromium: save a screenshot, fail on console errors.

The HTML report must be self-contained: with the network and every background service off,
the page still has to load without a console message, a refused resource (its
Content-Security-Policy forbids everything but inline styles and data: images) or a failed
request. Look at the PNG afterwards: that is the point of the screenshot.

    apt-get update && apt-get install -y chromium            # Debian's package, once
    .venv/bin/qcrd run -c configs/tiny.yaml run_dir=runs/tiny
    .venv/bin/python benchmarks/report_screenshot.py runs/tiny/report/report.html --out report.png

Exit status 0: screenshot written and no console error; 1: errors found (printed); 2: no
browser or no screenshot.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
# What Chromium's stderr log says when the page itself misbehaves (not the browser's own
# start-up chatter): console messages, CSP refusals, failed loads.
# (Chromium 156 writes "INFO:CONSOLE:1] "message", source: file:///... (1)"; a CSP refusal is
# a console message too.)
PAGE_PROBLEMS = re.compile(
    r"CONSOLE[:(]\d+|Content Security Policy|Refused to|Failed to load resource|net::ERR_",
    re.IGNORECASE,
)
# Attributes that would make the browser fetch something; only data: URIs are allowed.
FETCHING_ATTRIBUTES = frozenset({"src", "href", "srcset", "poster", "data", "action", "background"})


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in FETCHING_ATTRIBUTES and value and not value.startswith(("data:", "#")):
                self.found.append(f"<{tag} {name}={value[:80]}>")


def external_references(html: str) -> list[str]:
    """Every fetching attribute (src, href, ...) whose value is not a data: URI."""
    parser = _References()
    parser.feed(html)
    return parser.found


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(html: Path, out: Path, size: str = "1200,3000", timeout: float = 120) -> list[str]:
    """Render ``html`` into ``out``; return the page problems found in the browser's log."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="qcrd-chromium-") as profile:
        cmd = [
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={out.resolve()}",
            f"--window-size={size}",
            html.resolve().as_uri(),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return [line for line in result.stderr.splitlines() if PAGE_PROBLEMS.search(line)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="report.html or comparison.html")
    parser.add_argument("--out", type=Path, default=Path("report.png"))
    parser.add_argument("--window-size", default="1200,3000")
    args = parser.parse_args()
    if args.out.exists():
        args.out.unlink()
    try:
        problems = screenshot(args.html, args.out, args.window_size)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.out.is_file() or args.out.stat().st_size == 0:
        print(f"error: Chromium wrote no screenshot to {args.out}", file=sys.stderr)
        return 2
    print(f"screenshot: {args.out} ({args.out.stat().st_size} bytes)")
    for line in problems:
        print(f"page problem: {line}")
    external = external_references(args.html.read_text(encoding="utf-8"))
    for ref in external:
        print(f"external reference: {ref}")
    print(f"{len(problems)} console message(s), {len(external)} external reference(s)")
    return 1 if problems or external else 0


if __name__ == "__main__":
    sys.exit(main())

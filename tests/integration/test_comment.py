"""The whole PR comment in a real browser: the golden Markdown plans are rendered as GitHub
renders a comment (scripts/render-comment: GitHub-flavoured Markdown, GitHub's stylesheet,
Mermaid drawn in headless Chromium), and the rendered HTML must have every table as a
table, every <details> with its <summary>, and the diagram drawn."""

from __future__ import annotations

import itertools
import subprocess
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "render-comment"
GOLDEN = ROOT / "tests" / "unit" / "render" / "golden"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Elements(HTMLParser):
    """The rendered comment's elements, in order, and the first child of each <details>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.details_first: list[str] = []
        self._in_details = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_details:
            self.details_first.append(tag)
            self._in_details = False
        self.tags.append(tag)
        if tag == "details":
            self._in_details = True


def render(markdown: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    page = tmp_path / "rendered.html"
    done = subprocess.run(
        [str(SCRIPT), str(markdown), "--out", str(tmp_path / "comment.png"), "--html", str(page)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done, page.read_text(encoding="utf-8") if page.is_file() else ""


def tables_in(markdown: str) -> int:
    """Tables written in the Markdown: a header row followed by its delimiter row."""
    lines = markdown.splitlines()
    return sum(
        1
        for above, line in itertools.pairwise(lines)
        if above.startswith("|") and line.startswith("|---")
    )


def test_the_plan_comment_renders_as_intended(tmp_path: Path) -> None:
    golden = GOLDEN / "plan-blast.md"
    markdown = golden.read_text()
    done, rendered = render(golden, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    elements = Elements()
    elements.feed(rendered)
    # Every table of the Markdown became an HTML table; none is left as text.
    assert elements.tags.count("table") == tables_in(markdown) >= 5
    # Every <details> of the Markdown is one, with a <summary> first.
    assert elements.tags.count("details") == markdown.count("<details") >= 5
    assert elements.details_first == ["summary"] * elements.tags.count("details")
    # The Mermaid block became a drawn diagram, not a code block.
    assert elements.tags.count("svg") >= 1
    assert "flowchart LR" not in rendered
    assert (tmp_path / "comment.png").read_bytes().startswith(PNG_SIGNATURE)
    assert done.stdout.strip().endswith("render-comment: OK 6 table(s), 6 <details>, 1 diagram(s)")


def test_the_spec_error_comment_renders_its_table(tmp_path: Path) -> None:
    done, rendered = render(GOLDEN / "spec-errors.md", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    elements = Elements()
    elements.feed(rendered)
    assert elements.tags.count("table") == 1
    assert elements.tags.count("tr") == 3  # the header and the two errors


def test_a_comment_that_renders_badly_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(
        "### kafkaplan plan\n\n"
        "**:warning: 1 risk(s):**\n"
        "| field | value |\n"  # no blank line and no delimiter row: stays a paragraph
        "| `partitions` | 6 |\n\n"
        "<details>\n\nno summary\n\n</details>\n\n"
        '```mermaid\nflowchart LR\n  n0["open --> \n```\n'
    )
    done, _ = render(broken, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failures = [line for line in done.stdout.splitlines() if " FAIL " in f" {line}"]
    assert any("a table row left as text: | field | value |" in line for line in failures)
    assert any("<details> #1 has no <summary>" in line for line in failures)
    assert any("a Mermaid diagram does not parse" in line for line in failures)
    assert any("an emoji shortcode left as text: :warning:" in line for line in failures)

"""The Markdown plan's picture in a real browser: the golden plan's Mermaid is drawn by the
`mermaid` package in headless Chromium (scripts/render-mermaid), and a broken diagram fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "render-mermaid"
GOLDEN = ROOT / "tests" / "unit" / "render" / "golden" / "plan-blast.md"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render(markdown: Path, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), str(markdown)]
    if out is not None:
        args += ["--out", str(out)]
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)


def test_the_plans_picture_renders_in_a_browser(tmp_path: Path) -> None:
    out = tmp_path / "plan.png"
    done = render(GOLDEN, out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "render-mermaid: OK 1"
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000  # a drawn diagram, not a blank page


def test_a_diagram_that_does_not_parse_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text('# plan\n\n```mermaid\nflowchart LR\n  n0["open --> \n```\n')
    out = tmp_path / "broken.png"
    done = render(broken, out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("render-mermaid: FAIL ")
    assert not out.exists()

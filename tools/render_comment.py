"""A pull-request comment rendered as GitHub renders it, checked, and screenshotted.

    scripts/render-comment COMMENT.md [--out PICTURE.png] [--html RENDERED.html] [--expand]

The Markdown (what `kafkaplan plan --format markdown` prints and the action posts) is turned
into HTML the way GitHub treats a comment: GitHub-flavoured Markdown (tables, task lists,
strikethrough, raw <details>/<summary>, fenced code, a line break for every newline) by
markdown-it-py, styled with GitHub's own stylesheet (npm `github-markdown-css`), its
```mermaid blocks drawn by the `mermaid` package, in headless Chromium. Then the rendered
page is checked, and the check fails when the comment does not read as intended:

- a line that starts with `|` left as text (a broken table row or a table that did not form);
- a <details> without a <summary> as its first child;
- raw HTML shown as text (`<details>`, `</summary>` ... escaped by a mistake);
- an emoji shortcode (`:warning:`) left as text: the comment writes emoji as characters, so
  it reads the same wherever the Markdown is shown;
- a Mermaid diagram that does not parse.

Exit 0 when the comment rendered and passed the checks, 1 when a check failed (each problem
on its own line), 2 when the browser or the packages could not be set up. --html writes the
rendered comment (the HTML of the page's article after the diagrams were drawn), --out a PNG
of the whole comment; --expand opens every <details> first (to read what a reviewer sees
after clicking).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.tasklists import tasklists_plugin

from tools.browser import (
    GITHUB_MARKDOWN_CSS,
    MERMAID,
    SetupError,
    chromium,
    npm_file,
    run_browser,
)

# A comment in a pull request's conversation: about this wide on a desktop screen.
WIDTH = 900
MAX_HEIGHT = 30_000
BUDGET = "--virtual-time-budget=20000"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}">
<style>
body {{ margin: 0; background: #ffffff; }}
.comment {{ box-sizing: border-box; width: {width}px; padding: 16px; }}
.frame {{ border: 1px solid #d1d9e0; border-radius: 6px; }}
.frame-head {{ background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
  font: 14px -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial,
  sans-serif; color: #59636e; border-radius: 6px 6px 0 0; }}
.markdown-body {{ box-sizing: border-box; padding: 16px; }}
.kafkaplan-diagram {{ margin-bottom: 16px; overflow: auto; }}
</style>
<script src="{mermaid}"></script></head>
<body><pre id="result" style="display:none">pending</pre>
<div class="comment"><div class="frame">
<div class="frame-head"><b>github-actions</b> bot commented</div>
<article class="markdown-body" id="comment">{body}</article>
</div></div>
<script>
const expand = {expand};
(async () => {{
  const result = document.getElementById("result");
  const article = document.getElementById("comment");
  const problems = [];
  const notes = [];
  let diagrams = 0;
  try {{
    mermaid.initialize({{ startOnLoad: false, securityLevel: "strict", theme: "default" }});
    const blocks = Array.from(article.querySelectorAll("pre.kafkaplan-mermaid"));
    for (const block of blocks) {{
      const source = block.textContent;
      try {{
        await mermaid.parse(source);
        const {{ svg }} = await mermaid.render("diagram" + diagrams, source);
        const holder = document.createElement("div");
        holder.className = "kafkaplan-diagram";
        holder.innerHTML = svg;
        block.replaceWith(holder);
        diagrams += 1;
      }} catch (error) {{
        problems.push("a Mermaid diagram does not parse: " +
          String(error && error.message ? error.message : error).split("\\n").slice(0, 3).join(" "));
      }}
    }}
  }} catch (error) {{
    problems.push("mermaid failed: " + String(error));
  }}
  const details = Array.from(article.querySelectorAll("details"));
  details.forEach((item, index) => {{
    const first = item.firstElementChild;
    if (!first || first.tagName !== "SUMMARY") {{
      problems.push("<details> #" + (index + 1) + " has no <summary> as its first child");
    }}
    if (expand) item.open = true;
  }});
  const textOf = (element) => {{
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT, {{
      acceptNode: (node) => node.parentElement.closest("code, pre, svg, .kafkaplan-diagram")
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
    }});
    const parts = [];
    while (walker.nextNode()) parts.push(walker.currentNode.textContent);
    return parts.join("");
  }};
  for (const block of article.querySelectorAll("p, li, blockquote, td, th, summary")) {{
    const text = block.innerText;
    const cut = (s) => s.length > 120 ? s.slice(0, 117) + "..." : s;
    for (const line of text.split("\\n")) {{
      if (block.tagName === "P" && /^\\s*\\|/.test(line)) {{
        problems.push("a table row left as text: " + cut(line.trim()));
      }}
    }}
    const plain = textOf(block);
    const tag = plain.match(/<\\/?(details|summary|table|code|br|sub)\\b[^>]*>/);
    if (tag) problems.push("raw HTML shown as text: " + cut(tag[0]) + " in " + cut(plain.trim()));
    const shortcode = plain.match(/(^|[\\s(]):[a-z0-9_+-]+:(?=$|[\\s).,])/);
    if (shortcode) problems.push("an emoji shortcode left as text: " + shortcode[0].trim());
  }}
  const width = article.clientWidth;
  article.querySelectorAll("table").forEach((table, index) => {{
    if (table.scrollWidth > table.clientWidth + 1) {{
      const head = table.querySelector("tr");
      notes.push("table #" + (index + 1) + " (" + (head ? head.innerText.replace(/\\s+/g, " ").trim() : "") +
        ") scrolls sideways: " + table.scrollWidth + "px in " + table.clientWidth + "px");
    }}
  }});
  if (article.scrollWidth > width + 1) {{
    notes.push("the comment is wider than its box: " + article.scrollWidth + "px in " + width + "px");
  }}
  const report = {{
    problems, notes, diagrams,
    tables: article.querySelectorAll("table").length,
    details: details.length,
    height: Math.ceil(document.querySelector(".comment").getBoundingClientRect().height),
    html: article.innerHTML,
  }};
  result.textContent = JSON.stringify(report);
}})();
</script></body></html>
"""


def _fence(
    self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """```mermaid blocks become a placeholder the page draws; other fences as usual."""
    token = tokens[idx]
    if token.info.strip().split(" ")[0] == "mermaid":
        return f'<pre class="kafkaplan-mermaid">{html.escape(token.content)}</pre>\n'
    return str(RendererHTML.fence(self, tokens, idx, options, env))


def markdown_to_html(markdown: str) -> str:
    """The comment's HTML before the browser: GitHub-flavoured Markdown as in a comment,
    where every newline is a line break."""
    parser = (
        MarkdownIt("commonmark", {"html": True, "breaks": True})
        .enable("table")
        .enable("strikethrough")
        .use(tasklists_plugin)
    )
    parser.add_render_rule("fence", _fence)
    return str(parser.render(markdown))


def render(
    markdown: str,
    *,
    out: Path | None = None,
    width: int = WIDTH,
    expand: bool = False,
) -> dict[str, Any]:
    """The browser's report on the rendered comment (problems, notes, counts, html); a
    screenshot of the whole comment to ``out``."""
    browser = chromium()
    css, script = npm_file(GITHUB_MARKDOWN_CSS), npm_file(MERMAID)
    with tempfile.TemporaryDirectory(prefix="kafkaplan-comment-") as work:
        folder = Path(work)
        page = folder / "page.html"
        page.write_text(
            PAGE.format(
                css=css.as_uri(),
                mermaid=script.as_uri(),
                width=width,
                expand=json.dumps(expand),
                body=markdown_to_html(markdown),
            ),
            encoding="utf-8",
        )
        size = f"--window-size={width},1200"
        dom = run_browser(browser, folder / "profile-dom", [BUDGET, size, "--dump-dom"], page)
        found = re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom, re.DOTALL)
        text = html.unescape(found.group(1)) if found else "pending"
        if text == "pending":
            raise SetupError("the page did not report (mermaid or the page's script failed)")
        report: dict[str, Any] = json.loads(text)
        if out is not None:
            height = max(200, min(MAX_HEIGHT, int(report["height"])))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            shot = [BUDGET, f"--window-size={width},{height}", f"--screenshot={out.resolve()}"]
            run_browser(browser, folder / "profile-shot", shot, page)
            if not out.is_file() or out.stat().st_size == 0:
                raise SetupError("no screenshot was written")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="render-comment", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("markdown", type=Path)
    parser.add_argument("--out", type=Path, help="Write a PNG of the rendered comment here.")
    parser.add_argument("--html", type=Path, help="Write the rendered comment's HTML here.")
    parser.add_argument("--width", type=int, default=WIDTH, help="The comment's width in px.")
    parser.add_argument("--expand", action="store_true", help="Open every <details> first.")
    args = parser.parse_args(argv)
    try:
        markdown = args.markdown.read_text(encoding="utf-8")
        report = render(markdown, out=args.out, width=args.width, expand=args.expand)
    except (SetupError, OSError) as exc:
        print(f"render-comment: {exc}", file=sys.stderr)
        return 2
    if args.html is not None:
        args.html.write_text(str(report["html"]), encoding="utf-8")
    for note in report["notes"]:
        print(f"render-comment: note: {note}")
    for problem in report["problems"]:
        print(f"render-comment: FAIL {problem}")
    if report["problems"]:
        return 1
    print(
        f"render-comment: OK {report['tables']} table(s), {report['details']} <details>, "
        f"{report['diagrams']} diagram(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

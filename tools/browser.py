"""Headless Chromium and npm packages for the scripts that render Markdown in a real browser
(scripts/render-mermaid, scripts/render-comment).

What they need is installed on first use: Chromium from Debian's packages (`apt-get install
-y chromium`, as root) unless a `chromium` is on the PATH (or KAFKAPLAN_CHROMIUM names one),
and npm packages at pinned versions into .browser/ (git-ignored) in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".browser"
# The npm packages the pages load, pinned.
MERMAID = ("mermaid", "11.12.1", "dist/mermaid.min.js")
GITHUB_MARKDOWN_CSS = ("github-markdown-css", "5.9.0", "github-markdown-light.css")

# A fresh profile, nothing from the network, no background services.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-file-access-from-files",
    "--hide-scrollbars",
]


class SetupError(Exception):
    """Chromium or an npm package could not be found or installed."""


def chromium() -> str:
    named = os.environ.get("KAFKAPLAN_CHROMIUM") or shutil.which("chromium")
    if named:
        return named
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SetupError(
            "no chromium on the PATH: install it (Debian: apt-get install -y chromium)"
        )
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # The package lists may be missing on a fresh machine.
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        done = subprocess.run(install, capture_output=True, text=True, check=False)
    found = shutil.which("chromium")
    if done.returncode != 0 or found is None:
        raise SetupError(f"could not install chromium: {done.stderr.strip()[-500:]}")
    return found


def npm_file(package: tuple[str, str, str]) -> Path:
    """A file of an npm package at its pinned version, installed into .browser/ if missing."""
    name, version, inside = package
    folder = CACHE / "node_modules" / name
    path = folder / inside
    if path.is_file() and _installed_version(folder) == version:
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(f"npm is needed to install {name} (Debian: apt-get install -y npm)")
    CACHE.mkdir(exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"{name}@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not path.is_file():
        raise SetupError(f"could not install {name} with npm: {done.stderr.strip()[-500:]}")
    return path


def _installed_version(folder: Path) -> str | None:
    try:
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    return version if isinstance(version, str) else None


def run_browser(browser: str, profile: Path, extra: list[str], page: Path) -> str:
    """Chromium on ``page`` with a fresh ``profile``; its standard output."""
    done = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout

"""The package as a team installs it: build the sdist and the wheel (from the sdist, as
`python -m build` does), check them with twine, install the wheel into a new virtualenv
outside the repository and run kafkaplan there on a copy of the example project."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import kafkaplan

pytestmark = pytest.mark.package

REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    log = run(sys.executable, "-m", "build", "--outdir", out, REPO, cwd=REPO)
    # The license table setuptools warned about on every build is gone.
    assert "deprecated" not in log.lower(), log
    return out


def only(folder: Path, pattern: str) -> Path:
    [path] = folder.glob(pattern)
    return path


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    files = [only(dist, "*.whl"), only(dist, "*.tar.gz")]
    out = run(sys.executable, "-m", "twine", "check", "--strict", *files, cwd=dist)
    assert out.count("PASSED") == 2, out


def test_the_wheel_holds_every_module_the_license_and_its_metadata(dist: Path) -> None:
    wheel = only(dist, f"kafkaplan-{kafkaplan.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"kafkaplan-{kafkaplan.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    source = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "kafkaplan").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    # Every module and data file of the source tree, in every sub-package.
    assert source - names == set()
    assert "kafkaplan/py.typed" in names
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Name"] == "kafkaplan"


def test_the_wheel_installs_and_runs_outside_the_repository(dist: Path, tmp_path: Path) -> None:
    wheel = only(dist, "*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "KAFKAPLAN_"))
    }
    clean["PATH"] = f"{bin_dir}{os.pathsep}{clean.get('PATH', os.defpath)}"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path, env=clean)

    project = tmp_path / "estate"
    project.mkdir()
    shutil.copy(REPO / "kafkaplan.yaml", project / "kafkaplan.yaml")
    shutil.copytree(REPO / "specs", project / "specs")

    version = run(bin_dir / "kafkaplan", "--version", cwd=project, env=clean)
    assert version.strip() == f"kafkaplan, version {kafkaplan.__version__}"
    where = run(
        bin_dir / "python",
        "-c",
        "import kafkaplan; print(kafkaplan.__file__)",
        cwd=project,
        env=clean,
    )
    assert Path(where.strip()).is_relative_to(env_dir), where
    validated = run(bin_dir / "kafkaplan", "validate", cwd=project, env=clean)
    assert validated.startswith("Valid: "), validated
    assert "topic(s)" in validated
    # The spec schema is built from the models: no data file it could be missing.
    schema = run(bin_dir / "kafkaplan", "schema", cwd=project, env=clean)
    assert '"$id": "https://kafkaplan.dev/schema/spec.json"' in schema

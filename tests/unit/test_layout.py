"""The package layout (docs/architecture: one sub-package per stage) as a test.

Imports between kafkaplan's parts go one way only:

    errors, kinds  <-  secrets  <-  output  <-  spec  <-  live  <-  plan  <-  render, apply, importer
                             <-  commands  <-  cli  <-  launch  <-  __main__

and every runtime dependency pyproject.toml declares is imported somewhere in kafkaplan/.
Both are read from the source with ``ast`` (imports inside functions count too). What does
not hold today is listed below, explicitly, so that it is fixed rather than forgotten: the
tests fail both on a new exception and on a listed one that no longer occurs.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "kafkaplan"

# Each part and its rank: a part may import only parts of a lower rank (its own sub-package
# aside). "kafkaplan" is the package's __init__ (its __version__).
RANKS: dict[str, int] = {
    "kafkaplan": 0,
    "errors": 0,
    "kinds": 0,
    "secrets": 1,
    "output": 2,
    "spec": 3,
    "live": 4,
    "plan": 5,
    "render": 6,
    "apply": 6,
    "importer": 6,
    "commands": 7,
    "cli": 8,
    "launch": 9,
    "__main__": 10,
}

# Imports against the direction that exist today: (importing module, imported module).
KNOWN_UPWARD_IMPORTS: set[tuple[str, str]] = set()

# Declared runtime dependencies that kafkaplan/ does not import today.
KNOWN_UNUSED_DEPENDENCIES: set[str] = set()

# Modules an extra of a dependency provides (what importing it would look like).
EXTRA_MODULES: dict[tuple[str, str], str] = {
    ("confluent-kafka", "schemaregistry"): "confluent_kafka.schema_registry",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part_of(module: str) -> str:
    """The layout part of a kafkaplan module: its sub-package or top-level module."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of kafkaplan's source tree."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> tuple[str, ...]:
    """Every module ``path`` imports (absolute names; relative imports resolved). Each file
    is parsed once."""
    return _imports(path)


@functools.cache
def _imports(path: Path) -> tuple[str, ...]:
    return tuple(_read_imports(path))


def _read_imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            # `from kafkaplan import cli` imports the module kafkaplan.cli.
            yield from (
                f"{module}.{alias.name}"
                for alias in node.names
                if is_module(f"{module}.{alias.name}")
            )


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sources():
        importer = module_name(path)
        for imported in imports(path):
            if imported != "kafkaplan" and not imported.startswith("kafkaplan."):
                continue
            source, target = part_of(importer), part_of(imported)
            if source != target and RANKS[target] >= RANKS[source]:
                found.add((importer, imported))
    return found


def test_every_part_of_the_package_has_a_rank() -> None:
    parts = {part_of(module_name(path)) for path in sources()}
    assert parts == set(RANKS), "add the new part to RANKS (and to docs on the layout)"


def test_imports_go_one_way_only() -> None:
    found = upward_imports()
    new = found - KNOWN_UPWARD_IMPORTS
    assert not new, f"imports against the layout's direction: {sorted(new)}"
    fixed = KNOWN_UPWARD_IMPORTS - found
    assert not fixed, f"no longer imported, remove from KNOWN_UPWARD_IMPORTS: {sorted(fixed)}"


def declared_dependencies() -> list[tuple[str, set[str]]]:
    """(distribution name, extras) of each runtime dependency in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = []
    for requirement in project["dependencies"]:
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", requirement)
        assert match, requirement
        extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
        declared.append((match.group(1), extras))
    return declared


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> set[str]:
    """Every module (and each of its parent packages) kafkaplan/ imports."""
    found = set()
    for path in sources():
        for module in imports(path):
            pieces = module.split(".")
            found |= {".".join(pieces[: i + 1]) for i in range(len(pieces))}
    return found


def unused_dependencies() -> set[str]:
    providers: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            providers.setdefault(canonical(distribution), set()).add(module)
    used = imported_modules()
    unused = set()
    for name, extras in declared_dependencies():
        modules = providers.get(canonical(name))
        assert modules, f"{name} is declared but not installed: run `make install`"
        if not modules & used:
            unused.add(name)
        for extra in extras:
            extra_module = EXTRA_MODULES.get((canonical(name), extra))
            assert extra_module, f"say which module {name}[{extra}] provides in EXTRA_MODULES"
            if extra_module not in used:
                unused.add(f"{name}[{extra}]")
    return unused


def test_every_declared_dependency_is_imported() -> None:
    unused = unused_dependencies()
    new = unused - KNOWN_UNUSED_DEPENDENCIES
    assert not new, f"declared in pyproject.toml but imported nowhere in kafkaplan/: {sorted(new)}"
    fixed = KNOWN_UNUSED_DEPENDENCIES - unused
    assert not fixed, f"imported now, remove from KNOWN_UNUSED_DEPENDENCIES: {sorted(fixed)}"


def test_the_import_reader_sees_imports_anywhere_in_a_module() -> None:
    """The checks above would pass vacuously if ``imports`` found nothing."""
    assert "kafkaplan.commands" in set(imports(PACKAGE / "cli.py"))
    # confluent-kafka is imported inside the adapter's methods only.
    assert "confluent_kafka.admin" in set(imports(PACKAGE / "live" / "cluster.py"))
    assert {"confluent_kafka", "kafka", "yaml"} <= imported_modules()

"""Files that specs refer to (schema files, for one) must stay inside the project folder.

A spec is reviewed in a pull request, but the files it names are read on the machine that
runs kafkaplan: a reference through ``..``, an absolute path or a symlink could make a plan
read (and show, or upload to a registry) any file that machine can read. Every such
reference goes through ``resolve_inside``.
"""

from __future__ import annotations

from pathlib import Path

from kafkaplan.errors import Diagnostic, SpecError


def resolve_inside(root: Path, relative: str, file: str, line: int | None) -> Path:
    """The file ``relative`` names, resolved against ``root`` with every symlink followed.

    Raises ``SpecError`` (one diagnostic at ``file:line``) when it is empty, absolute,
    leaves ``root`` (through ``..`` or a symlink), does not exist or is not a file.
    """

    def refuse(message: str, hint: str | None = None) -> SpecError:
        return SpecError([Diagnostic(message, file=file, line=line, hint=hint)])

    inside = "paths are relative to the project folder and stay inside it"
    if not relative or not relative.strip():
        raise refuse("empty file reference")
    if "\x00" in relative:
        raise refuse("file reference contains a NUL byte")
    candidate = Path(relative)
    if candidate.is_absolute() or relative.startswith("~"):
        raise refuse(f"file reference {relative!r} is absolute", hint=inside)
    base = root.resolve()
    try:
        resolved = (base / candidate).resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise refuse(f"cannot resolve {relative!r}: {exc}") from exc
    if not resolved.is_relative_to(base):
        via = "a symlink" if ".." not in candidate.parts else "'..'"
        raise refuse(f"file reference {relative!r} leaves the project folder through {via}", inside)
    if not resolved.exists():
        raise refuse(f"file {relative!r} does not exist")
    if not resolved.is_file():
        raise refuse(f"{relative!r} is not a file")
    return resolved

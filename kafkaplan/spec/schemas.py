"""Schema files: loading, syntax checks, canonical forms, field summaries, references.

Everything here is pure computation on text, so ``compute_plan`` can use it on both the
schema files and the registry's copies. The canonical form is what a plan compares: two
schemas with the same canonical form are the same schema, however they are formatted
(docs/schemas.md lists the rules per type):

- Avro: parsed with fastavro (names made fully qualified, ``namespace`` folded into them,
  ``{"type": "int"}`` written as ``"int"``), then JSON with sorted keys and no whitespace.
  ``doc``, ``default``, ``aliases``, ``order`` and custom properties are kept: a change to
  any of them is a new version, so the registry never holds a stale description.
- JSON Schema: JSON with sorted keys and no whitespace; ``required`` lists are sorted.
- Protobuf: parsed (proto-schema-parser), comments dropped, the file's package, imports
  (sorted) and options (sorted) first, then printed in one layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from msgspec import Struct, field

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import DesiredReference, DesiredSubject, Source
from kafkaplan.spec.models import SchemaSpec
from kafkaplan.spec.source import Document, PathKey

SUFFIX_TYPES = {".avsc": "AVRO", ".json": "JSON", ".proto": "PROTOBUF"}
MAX_SCHEMA_BYTES = 2 * 1024 * 1024

# Compatibility levels: which directions each checks, and whether against every version.
LEVELS: dict[str, tuple[frozenset[str], bool]] = {
    "NONE": (frozenset(), False),
    "BACKWARD": (frozenset({"backward"}), False),
    "BACKWARD_TRANSITIVE": (frozenset({"backward"}), True),
    "FORWARD": (frozenset({"forward"}), False),
    "FORWARD_TRANSITIVE": (frozenset({"forward"}), True),
    "FULL": (frozenset({"backward", "forward"}), False),
    "FULL_TRANSITIVE": (frozenset({"backward", "forward"}), True),
}


def implies(level: str, other: str) -> bool:
    """Whether every change ``level`` allows is also allowed by ``other``: ``level``
    guarantees at least what ``other`` does. A partial order: FULL_TRANSITIVE implies all,
    NONE is implied by all; BACKWARD and FORWARD are incomparable."""
    directions, transitive = LEVELS[level]
    other_directions, other_transitive = LEVELS[other]
    if not other_directions <= directions:
        return False
    return transitive or not other_transitive or not other_directions


class SchemaProblem(Exception):
    """A schema file (or registry copy) that does not parse, with the line when known."""

    def __init__(self, message: str, line: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


class External(Struct, frozen=True):
    """A name the schema uses but does not define: it needs a reference."""

    name: str  # Avro full type name, JSON `$ref` (without fragment), Protobuf import
    line: int | None


class ParsedSchema(Struct, frozen=True):
    canonical: str
    fields: dict[str, str]
    externals: tuple[External, ...] = ()
    # Names other schemas may use for this one: Avro named types, a JSON `$id`.
    defines: tuple[str, ...] = ()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_of(text: str, needle: str) -> int | None:
    """The first line of ``text`` containing ``needle``."""
    index = text.find(needle)
    return None if index < 0 else text.count("\n", 0, index) + 1


def _line_of_path(text: str, keys: Sequence[str]) -> int | None:
    """The line of a nested key, found by looking for each key after the previous one."""
    position = -1
    for key in keys:
        found = text.find(f'"{key}"', position + 1)
        if found < 0:
            break
        position = found
    return None if position < 0 else text.count("\n", 0, position) + 1


def _json_document(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaProblem(f"invalid JSON: {exc.msg}", line=exc.lineno) from exc


# ---------------------------------------------------------------------------------------
# Avro
# ---------------------------------------------------------------------------------------


def _define_avro(
    loaded: Mapping[str, _Loaded], subject: str, named: dict[str, Any], seen: set[str]
) -> None:
    """Parse ``subject``'s Avro schema (after those it refers to) into ``named``."""
    import fastavro

    target = loaded.get(subject)
    if target is None or subject in seen or target.schema_type != "AVRO":
        return
    seen.add(subject)
    for ref in target.references:
        _define_avro(loaded, ref.subject, named, seen)
    fastavro.parse_schema(json.loads(target.text), named_schemas=named, _write_hint=False)


_AVRO_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_AVRO_UNNAMED = {*_AVRO_PRIMITIVES, "array", "map"}


def _avro_normal(node: Any) -> Any:
    if isinstance(node, list):
        return [_avro_normal(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("__"):
            continue  # fastavro's bookkeeping
        # Defaults and other properties are values, not schemas: kept as written.
        result[key] = _avro_normal(value) if key in ("type", "items", "values", "fields") else value
    if "name" not in result and result.get("type") in _AVRO_UNNAMED:
        # Avro defines `doc` only for records, enums, fixed and fields; registries (Avro's
        # own parser) drop it elsewhere, so it cannot be part of the comparison.
        result.pop("doc", None)
    if set(result) == {"type"} and isinstance(result["type"], str | list):
        return result["type"]
    return result


def parse_avro(text: str) -> ParsedSchema:
    import fastavro
    from fastavro.schema import SchemaParseException, UnknownType

    document = _json_document(text)
    named: dict[str, Any] = {}
    unknown: list[str] = []
    while True:
        try:
            parsed = fastavro.parse_schema(document, named_schemas=named, _write_hint=False)
            break
        except UnknownType as exc:
            name = str(exc.name)
            if name in unknown or len(unknown) > 1000:
                raise SchemaProblem(f"unknown type {name!r}", line_of(text, name)) from exc
            unknown.append(name)
            named.clear()
            for placeholder in unknown:
                named[placeholder] = {"type": "record", "name": placeholder, "fields": []}
        except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
            message = str(exc) or type(exc).__name__
            raise SchemaProblem(
                f"invalid Avro schema: {message}", _avro_problem_line(text, message)
            ) from exc
    normal = _avro_normal(parsed)
    externals = tuple(External(name, _avro_name_line(text, name)) for name in unknown)
    defines = tuple(sorted(name for name in named if name not in unknown))
    return ParsedSchema(canonical_json(normal), _avro_fields(normal), externals, defines)


def _avro_name_line(text: str, full_name: str) -> int | None:
    return line_of(text, f'"{full_name}"') or line_of(text, f'"{full_name.rsplit(".", 1)[-1]}"')


def _avro_problem_line(text: str, message: str) -> int | None:
    for quoted in re.findall(r"[\"'<]([^\"'<>]+)[\"'>]", message):
        line = line_of(text, f'"{quoted}"') or line_of(text, quoted)
        if line:
            return line
    return None


def _avro_type(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " | ".join(_avro_type(item) for item in node)
    kind = node.get("type")
    logical = f" ({node['logicalType']})" if "logicalType" in node else ""
    if kind == "array":
        return f"array<{_avro_type(node['items'])}>"
    if kind == "map":
        return f"map<{_avro_type(node['values'])}>"
    if kind == "enum":
        return f"enum {node['name']} {{{', '.join(node.get('symbols', []))}}}"
    if kind == "fixed":
        return f"fixed {node['name']}({node.get('size')}){logical}"
    if kind in ("record", "error"):
        return str(node["name"])
    return f"{_avro_type(kind)}{logical}"


def _avro_records(node: Any) -> list[dict[str, Any]]:
    """Records defined inline in a field type (directly, in a union, array or map)."""
    if isinstance(node, list):
        return [record for item in node for record in _avro_records(item)]
    if not isinstance(node, dict):
        return []
    if node.get("type") in ("record", "error"):
        return [node]
    if node.get("type") == "array":
        return _avro_records(node.get("items"))
    if node.get("type") == "map":
        return _avro_records(node.get("values"))
    return []


def _avro_fields(schema: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    summary: dict[str, str] = {}
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        if depth == 0:
            summary["(schema)"] = _avro_type(schema)
        return summary
    if depth == 0 and schema.get("doc"):
        summary["(doc)"] = str(schema["doc"])
    for item in schema.get("fields", []):
        path = f"{prefix}{item['name']}"
        text = _avro_type(item["type"])
        if "default" in item:
            text += f" = {json.dumps(item['default'])}"
        summary[path] = text
        if item.get("doc"):
            summary[f"{path} (doc)"] = str(item["doc"])
        if depth < 8:
            for record in _avro_records(item["type"]):
                summary.update(_avro_fields(record, f"{path}.", depth + 1))
    return summary


# ---------------------------------------------------------------------------------------
# JSON Schema
# ---------------------------------------------------------------------------------------


def _json_normal(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_normal(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _json_normal(value) for key, value in node.items()}
    required = result.get("required")
    if isinstance(required, list) and all(isinstance(item, str) for item in required):
        result["required"] = sorted(set(required))
    return result


def _json_refs(node: Any) -> Iterable[str]:
    if isinstance(node, list):
        for item in node:
            yield from _json_refs(item)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _json_refs(value)


def parse_json_schema(text: str) -> ParsedSchema:
    import jsonschema
    from jsonschema.exceptions import SchemaError

    document = _json_document(text)
    if not isinstance(document, dict | bool):
        raise SchemaProblem("a JSON Schema is an object (or true/false)", line=1)
    validator = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
    try:
        validator.check_schema(document)  # type: ignore[arg-type]  # booleans are schemas too
    except SchemaError as exc:
        line = _line_of_path(text, [str(p) for p in exc.path if isinstance(p, str)])
        path = "/".join(str(part) for part in exc.path)
        raise SchemaProblem(
            f"invalid JSON Schema{f' at {path}' if path else ''}: {exc.message}", line
        ) from exc
    externals: dict[str, External] = {}
    for ref in _json_refs(document):
        target = ref.split("#", 1)[0]
        if target and target not in externals:
            externals[target] = External(target, line_of(text, ref))
    normal = _json_normal(document)
    defines: tuple[str, ...] = ()
    if isinstance(document, dict) and isinstance(document.get("$id"), str):
        defines = (str(document["$id"]),)
    return ParsedSchema(
        canonical_json(normal), _json_fields(normal), tuple(externals.values()), defines
    )


def _json_type(node: Any) -> str:
    if not isinstance(node, dict):
        return json.dumps(node)
    if "$ref" in node:
        return f"$ref {node['$ref']}"
    kind = node.get("type", "any")
    text = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        text = f"array<{_json_type(node['items'])}>"
    if "format" in node:
        text += f" ({node['format']})"
    if "enum" in node:
        text += f" {json.dumps(node['enum'])}"
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in node:
            text += f" {combinator}[{len(node[combinator])}]"
    return text


def _json_fields(schema: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    summary: dict[str, str] = {}
    if not isinstance(schema, dict):
        return {"(schema)": json.dumps(schema)} if depth == 0 else {}
    if depth == 0:
        summary["(schema)"] = _json_type(schema)
    required = (
        set(schema.get("required", [])) if isinstance(schema.get("required"), list) else set()
    )
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], dict):
        summary[f"{prefix}(additionalProperties)"] = json.dumps(schema["additionalProperties"])
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, value in properties.items():
            path = f"{prefix}{name}"
            text = _json_type(value)
            if name in required:
                text += ", required"
            summary[path] = text
            if depth < 8 and isinstance(value, dict):
                summary.update(_json_fields(value, f"{path}.", depth + 1))
                items = value.get("items")
                if isinstance(items, dict):
                    summary.update(_json_fields(items, f"{path}[].", depth + 1))
    return summary


# ---------------------------------------------------------------------------------------
# Protobuf
# ---------------------------------------------------------------------------------------

# Files every Protobuf registry knows without a reference.
WELL_KNOWN_PROTO = re.compile(r"^(google/protobuf/|google/type/|confluent/)")


def _proto_ast(text: str) -> Any:
    from antlr4.error.ErrorListener import ErrorListener
    from proto_schema_parser.parser import Parser

    problems: list[tuple[int, int, str]] = []

    class Collect(ErrorListener):  # type: ignore[misc]
        def syntaxError(  # ANTLR's interface
            self, recognizer: Any, symbol: Any, line: int, column: int, msg: str, e: Any
        ) -> None:
            problems.append((line, column, msg))

    def quiet(recognizer: Any) -> None:
        recognizer.removeErrorListeners()
        recognizer.addErrorListener(Collect())

    try:
        tree = Parser(setup_lexer=quiet, setup_parser=quiet).parse(text)
    except Exception as exc:  # the AST builder trips over what the parser recovered from
        if not problems:
            raise SchemaProblem(f"invalid Protobuf schema: {exc}") from exc
        tree = None
    if problems:
        line, column, message = problems[0]
        raise SchemaProblem(f"invalid Protobuf schema: {message} (column {column + 1})", line)
    return tree


def _strip_comments(node: Any) -> Any:
    from proto_schema_parser import ast

    if isinstance(node, list):
        return [_strip_comments(item) for item in node if not isinstance(item, ast.Comment)]
    if is_dataclass(node) and not isinstance(node, type):
        changes = {
            f.name: _strip_comments(getattr(node, f.name))
            for f in fields(node)
            if isinstance(getattr(node, f.name), list)
        }
        return replace(node, **changes) if changes else node
    return node


def _proto_canonical(tree: Any) -> str:
    from proto_schema_parser import ast
    from proto_schema_parser.generator import Generator

    tree = _strip_comments(tree)
    elements = list(tree.file_elements)
    packages = [e for e in elements if isinstance(e, ast.Package)]
    imports = sorted((e for e in elements if isinstance(e, ast.Import)), key=lambda e: e.name)
    options = sorted((e for e in elements if isinstance(e, ast.Option)), key=lambda e: e.name)
    rest = [e for e in elements if not isinstance(e, ast.Package | ast.Import | ast.Option)]
    tree = replace(tree, file_elements=[*packages, *imports, *options, *rest])
    text = Generator().generate(tree)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _proto_fields(elements: Sequence[Any], prefix: str, summary: dict[str, str]) -> None:
    from proto_schema_parser import ast

    for element in elements:
        if isinstance(element, ast.Field):
            card = f"{element.cardinality.value.lower()} " if element.cardinality else ""
            summary[f"{prefix}{element.name}"] = f"{card}{element.type} = {element.number}"
        elif isinstance(element, ast.MapField):
            summary[f"{prefix}{element.name}"] = (
                f"map<{element.key_type}, {element.value_type}> = {element.number}"
            )
        elif isinstance(element, ast.OneOf):
            inner: dict[str, str] = {}
            _proto_fields(element.elements, prefix, inner)
            summary.update({k: f"{v} (oneof {element.name})" for k, v in inner.items()})
        elif isinstance(element, ast.Message):
            _proto_fields(element.elements, f"{prefix}{element.name}.", summary)
        elif isinstance(element, ast.Enum):
            for value in element.elements:
                if isinstance(value, ast.EnumValue):
                    summary[f"{prefix}{element.name}.{value.name}"] = f"= {value.number}"


def parse_protobuf(text: str) -> ParsedSchema:
    from proto_schema_parser import ast

    tree = _proto_ast(text)
    externals = tuple(
        External(element.name, line_of(text, f'"{element.name}"'))
        for element in tree.file_elements
        if isinstance(element, ast.Import) and not WELL_KNOWN_PROTO.match(element.name)
    )
    summary: dict[str, str] = {}
    _proto_fields(tree.file_elements, "", summary)
    return ParsedSchema(_proto_canonical(tree), summary, externals)


PARSERS: dict[str, Callable[[str], ParsedSchema]] = {
    "AVRO": parse_avro,
    "JSON": parse_json_schema,
    "PROTOBUF": parse_protobuf,
}


def parse(schema_type: str, text: str) -> ParsedSchema:
    """Parse a schema of the given type. Raises SchemaProblem."""
    parser = PARSERS.get(schema_type)
    if parser is None:
        raise SchemaProblem(f"unknown schema type {schema_type!r}")
    return parser(text)


def parse_lenient(schema_type: str, text: str) -> ParsedSchema:
    """For the registry's copy: a text kafkaplan cannot parse still compares (by its
    whitespace-collapsed text), so it shows up as different from any file, never as equal."""
    try:
        return parse(schema_type, text)
    except SchemaProblem:
        return ParsedSchema(" ".join(text.split()), {})


def same_schema(want: DesiredSubject, schema_type: str, text: str) -> bool:
    """Is the registry's ``text`` (of ``schema_type``) the schema ``want`` declares? The
    same text is the same schema without parsing it; otherwise canonical forms compare."""
    if schema_type != want.schema_type:
        return False
    return text == want.schema or parse_lenient(schema_type, text).canonical == want.canonical


# ---------------------------------------------------------------------------------------
# Field summaries
# ---------------------------------------------------------------------------------------


def field_changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> list[tuple[str, str | None, str | None]]:
    """(path, before, after) per added, removed or changed entry of a field summary."""
    changes = []
    for path in [*before, *(p for p in after if p not in before)]:
        old, new = before.get(path), after.get(path)
        if old != new:
            changes.append((path, old, new))
    return changes


def may_break(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Summary changes that can break readers or writers whatever the direction: fields
    removed, fields added without a default, types changed. A heuristic, used only to flag
    changes the registry will not check (compatibility NONE)."""
    reasons = []
    for path, old, new in field_changes(before, after):
        if path.endswith("(doc)") or path == "(doc)":
            continue
        if new is None:
            reasons.append(f"{path} removed")
        elif old is None:
            if " = " not in new and "optional" not in new:
                reasons.append(f"{path} added without a default")
        else:
            reasons.append(f"{path} changed ({old} -> {new})")
    return reasons


# ---------------------------------------------------------------------------------------
# Loading the schemas the specs declare
# ---------------------------------------------------------------------------------------


class Declaration(Struct, frozen=True):
    """One subject declaration in a spec file, before its schema file is read."""

    subject: str
    spec: SchemaSpec
    document: Document
    path: PathKey  # where in the spec file it is declared
    spec_file: Path  # the spec file on disk
    topic: str | None = None

    @property
    def source(self) -> Source:
        return Source(self.document.file, self.document.line_of(self.path))

    def diagnostic(
        self, message: str, key: str | None = None, hint: str | None = None
    ) -> Diagnostic:
        path = (*self.path, key) if key else self.path
        return self.document.diagnostic(path, message, hint)


class _Loaded(Struct):
    declaration: Declaration
    schema_type: str
    text: str
    file: Path  # resolved
    display: str  # relative to the project folder
    parsed: ParsedSchema
    references: list[DesiredReference] = field(default_factory=list)


def resolve_schema_file(root: Path, spec_file: Path, relative: str) -> Path:
    """The schema file a spec names, refusing paths that leave the project folder
    (``..`` or a symlink pointing outside). Raises ValueError with the reason."""
    if not relative.strip():
        raise ValueError("schema file path is empty")
    if PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        raise ValueError(f"schema file {relative!r} is an absolute path")
    root = _resolved(root)
    lexical = Path(_normpath(spec_file.parent / relative))
    if not lexical.is_relative_to(root):
        raise ValueError(f"schema file {relative!r} is outside the project folder")
    resolved = lexical.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"schema file {relative!r} resolves outside the project folder (symlink)")
    return resolved


@lru_cache(maxsize=8)
def _resolved(root: Path) -> Path:
    """The project folder, resolved once per run rather than once per schema file."""
    return root.resolve()


def _normpath(path: Path) -> str:
    import os.path

    return os.path.normpath(str(path.absolute()))


def _read_schema_file(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_SCHEMA_BYTES:
        raise SchemaProblem(f"schema file is {size} bytes; the limit is {MAX_SCHEMA_BYTES}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaProblem(
            "schema file is not valid UTF-8", line=raw[: exc.start].count(b"\n") + 1
        ) from exc
    return text.removeprefix("\ufeff")


def load_subjects(
    root: Path, declarations: Sequence[Declaration], problems: list[Diagnostic]
) -> dict[str, DesiredSubject]:
    """Read, parse and connect the schemas of every declaration; problems are appended."""
    loaded: dict[str, _Loaded] = {}
    # Files of the schemas that could not be loaded, and their text (empty if unreadable).
    broken: list[tuple[str, str]] = []
    for declaration in declarations:
        first = loaded.get(declaration.subject)
        if first is not None:
            problems.append(
                declaration.diagnostic(
                    f"subject {declaration.subject!r} is declared twice",
                    hint=f"first declared at {first.declaration.source}",
                )
            )
            continue
        item = _load_one(root, declaration, problems)
        if item is not None:
            loaded[declaration.subject] = item
        else:
            broken.append(_broken_schema(root, declaration))
    before = len(problems)
    _connect_references(root, loaded, problems, broken)
    if len(problems) == before:
        problems.extend(reference_cycles(loaded))
    if len(problems) == before:
        problems.extend(_avro_defaults_of_referenced_types(loaded))
    return {
        name: DesiredSubject(
            name=name,
            schema_type=item.schema_type,
            schema=item.text,
            canonical=item.parsed.canonical,
            file=item.display,
            source=item.declaration.source,
            references=tuple(item.references),
            compatibility=item.declaration.spec.compatibility,
            fields=item.parsed.fields,
            topic=item.declaration.topic,
        )
        for name, item in sorted(loaded.items())
    }


def _load_one(root: Path, declaration: Declaration, problems: list[Diagnostic]) -> _Loaded | None:
    spec = declaration.spec
    try:
        file = resolve_schema_file(root, declaration.spec_file, spec.file)
    except ValueError as exc:
        problems.append(
            declaration.diagnostic(
                str(exc), "file", hint="schema files must live inside the project folder"
            )
        )
        return None
    display = str(file.relative_to(_resolved(root)))
    schema_type = spec.type or SUFFIX_TYPES.get(file.suffix.lower())
    if schema_type is None:
        problems.append(
            declaration.diagnostic(
                f"cannot tell the schema type of {spec.file!r} from its suffix",
                "file",
                hint="use .avsc, .json or .proto, or set `type: AVRO | JSON | PROTOBUF`",
            )
        )
        return None
    if not file.is_file():
        problems.append(declaration.diagnostic(f"schema file {spec.file!r} does not exist", "file"))
        return None
    try:
        text = _read_schema_file(file)
        parsed = parse(schema_type, text)
    except SchemaProblem as exc:
        problems.append(
            Diagnostic(
                exc.message,
                file=display,
                line=exc.line or 1,
                hint=exc.hint
                or f"{schema_type} schema of subject {declaration.subject!r}, "
                f"declared at {declaration.source}",
            )
        )
        return None
    except OSError as exc:
        problems.append(declaration.diagnostic(f"cannot read schema file: {exc.strerror}", "file"))
        return None
    return _Loaded(declaration, schema_type, text, file, display, parsed)


def _avro_named_fields(node: Any, namespace: str = "") -> Iterable[tuple[dict[str, Any], str]]:
    """Every record field of an Avro schema document, with the namespace it is in."""
    if isinstance(node, list):
        for branch in node:
            yield from _avro_named_fields(branch, namespace)
        return
    if not isinstance(node, dict):
        return
    name = str(node.get("name", ""))
    inner = str(node.get("namespace", namespace) or "")
    if "." in name:
        inner = name.rsplit(".", 1)[0]
    if node.get("type") == "record":
        for item in node.get("fields") or []:
            if isinstance(item, dict):
                yield item, inner
                yield from _avro_named_fields(item.get("type"), inner)
    elif node.get("type") == "array":
        yield from _avro_named_fields(node.get("items"), inner)
    elif node.get("type") == "map":
        yield from _avro_named_fields(node.get("values"), inner)


def _avro_defaults_of_referenced_types(loaded: Mapping[str, _Loaded]) -> list[Diagnostic]:
    """Defaults of fields whose type another subject defines. Alone, such a type is a
    placeholder that fastavro does not check a default against, so ``"default": "x"`` for
    a record passed; checked here with the referenced types (references have no cycles)."""
    import fastavro
    from fastavro.validation import validate

    problems = []
    for name, item in sorted(loaded.items()):
        externals = {external.name for external in item.parsed.externals}
        if item.schema_type != "AVRO" or not externals:
            continue
        named: dict[str, Any] = {}
        try:
            seen: set[str] = set()
            for ref in item.references:
                _define_avro(loaded, ref.subject, named, seen)
        except Exception:
            continue
        for found, namespace in _avro_named_fields(json.loads(item.text)):
            if "default" not in found:
                continue
            kind = found.get("type")
            branches = kind if isinstance(kind, list) else [kind]
            full = [
                b if "." in b or not namespace else f"{namespace}.{b}"
                for b in branches
                if isinstance(b, str)
            ]
            if not any(b in externals for b in full) or not all(
                b in named or b in _AVRO_PRIMITIVES for b in full
            ):
                continue
            check = {
                "type": "record",
                "name": "kafkaplan_default",
                "fields": [{"name": "v", "type": full if isinstance(kind, list) else full[0]}],
            }
            parsed = fastavro.parse_schema(check, named_schemas=dict(named))
            if not validate({"v": found["default"]}, parsed, raise_errors=False):
                field_name = str(found.get("name"))
                problems.append(
                    Diagnostic(
                        f"invalid Avro schema: the default of field {field_name!r} is not a "
                        f"value of its type {kind!r}: {json.dumps(found['default'])}",
                        file=item.display,
                        line=line_of(item.text, f'"{field_name}"') or 1,
                        hint=f"AVRO schema of subject {name!r}, declared at "
                        f"{item.declaration.source}",
                    )
                )
    return problems


def _broken_schema(root: Path, declaration: Declaration) -> tuple[str, str]:
    """The file name and text of a schema that could not be loaded (already reported)."""
    try:
        file = resolve_schema_file(root, declaration.spec_file, declaration.spec.file)
        return file.name, _read_schema_file(file)
    except (ValueError, OSError, SchemaProblem):  # too big or not UTF-8: its text is unknown
        return Path(declaration.spec.file).name, ""


def _may_define(broken: Sequence[tuple[str, str]], name: str) -> bool:
    """Whether a schema that could not be loaded may be what defines ``name`` (an Avro type,
    a JSON Schema $ref, a Protobuf import): then a missing reference to it is only a
    consequence of that schema's own error, which is reported, and is not reported again."""
    short = name.rsplit("/", 1)[-1]
    simple = name.rsplit(".", 1)[-1]
    return any(file == short or (simple and f'"{simple}"' in text) for file, text in broken)


def _connect_references(
    root: Path,
    loaded: Mapping[str, _Loaded],
    problems: list[Diagnostic],
    broken: Sequence[tuple[str, str]] = (),
) -> None:
    """Declared references as written; the others detected; uncovered names are errors
    (unless a schema that could not be loaded may define them)."""
    by_file = {item.file: name for name, item in loaded.items()}
    by_defined: dict[str, list[str]] = {}
    for name, item in loaded.items():
        for defined in item.parsed.defines:
            by_defined.setdefault(defined, []).append(name)
    for name, item in sorted(loaded.items()):
        declaration = item.declaration
        declared = declaration.spec.references
        if declared is not None:
            for index, ref in enumerate(declared):
                path = (*declaration.path, "references", index)
                item.references.append(
                    DesiredReference(
                        name=ref.name,
                        subject=ref.subject,
                        version=None if ref.version == "latest" else ref.version,
                        source=Source(
                            declaration.document.file, declaration.document.line_of(path)
                        ),
                    )
                )
        covered = {ref.name for ref in item.references}
        for external in item.parsed.externals:
            if external.name in covered:
                continue
            target = _detect(root, item, external.name, by_file, by_defined)
            source = Source(item.display, external.line)
            if (target is None or target == name) and _may_define(broken, external.name):
                continue
            if target is None or target == name:
                what = {
                    "AVRO": "type",
                    "JSON": "$ref",
                    "PROTOBUF": "import",
                }[item.schema_type]
                problems.append(
                    Diagnostic(
                        f"missing reference: {what} {external.name!r} is not defined in "
                        f"this schema and no declared subject provides it",
                        file=item.display,
                        line=external.line or 1,
                        hint=f"declare the subject that holds it in the specs, or list it "
                        f"under `references:` of subject {name!r} ({declaration.source})",
                    )
                )
                continue
            item.references.append(DesiredReference(external.name, target, None, source))
            covered.add(external.name)


def _detect(
    root: Path,
    item: _Loaded,
    name: str,
    by_file: Mapping[Path, str],
    by_defined: Mapping[str, list[str]],
) -> str | None:
    if item.schema_type == "AVRO" or (item.schema_type == "JSON" and name in by_defined):
        owners = by_defined.get(name, [])
        return owners[0] if len(owners) == 1 else None
    if item.schema_type == "JSON":
        if re.match(r"^[a-z][a-z0-9+.-]*:", name):
            return None  # an absolute URI that no declared schema has as its $id
        candidates = [item.file.parent / name]
    else:  # Protobuf: the import path, against the importing file's folder and its parents
        candidates = [folder / name for folder in item.file.parents if folder.is_relative_to(root)]
    for candidate in candidates:
        target = by_file.get(Path(_normpath(candidate)))
        if target is None and candidate.exists():
            target = by_file.get(candidate.resolve())
        if target is not None:
            return target
    return None


def reference_cycles(loaded: Mapping[str, _Loaded]) -> list[Diagnostic]:
    """A reference cycle among declared subjects, as one diagnostic per cycle found."""
    graph = {
        name: [ref for ref in item.references if ref.subject in loaded]
        for name, item in loaded.items()
    }
    problems = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for ref in graph[node]:
            if state.get(ref.subject) == 1:
                cycle = [*stack[stack.index(ref.subject) :], ref.subject]
                problems.append(
                    Diagnostic(
                        f"reference cycle: {' -> '.join(cycle)}",
                        file=ref.source.file,
                        line=ref.source.line,
                        hint="registries cannot register schemas that refer to each other; "
                        "move the shared types into a schema of their own",
                    )
                )
            elif ref.subject not in state:
                visit(ref.subject)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return problems


def dependency_order(subjects: Mapping[str, Collection[str]]) -> list[str]:
    """Subject names with every subject after the ones it refers to (among ``subjects``);
    ties by name. Cycles (already reported at load) are broken arbitrarily but stably."""
    done: set[str] = set()
    order: list[str] = []

    def visit(node: str, path: set[str]) -> None:
        if node in done or node in path:
            return
        path.add(node)
        for dependency in sorted(subjects[node]):
            if dependency in subjects:
                visit(dependency, path)
        path.discard(node)
        done.add(node)
        order.append(node)

    for node in sorted(subjects):
        visit(node, set())
    return order

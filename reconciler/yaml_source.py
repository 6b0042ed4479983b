"""Finding, reading and parsing desired-state YAML, safely and with line numbers.

PyYAML's plain loaders forget line numbers and silently let a duplicate key overwrite the first
one; both matter for a tool whose errors must point at `file:line`. The loader here keeps the
start line of each mapping and each of its keys, and reports duplicate keys.

Desired state arrives in pull requests, so a file may be hostile or merely broken. Every file is
bounded before it is trusted: its size before it is read, its nesting depth and the number of
nodes it expands to (YAML aliases included) by a linear scan of the parser's events before any
tree is built. Without those bounds a 50 MB file takes minutes and gigabytes, an alias bomb
exhausts memory, and deep nesting overflows the recursive composer.

Anything under the desired folder that cannot be read is an Issue, never skipped: a skipped
file could hold the exception that keeps an app's client credentials flow on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .display import cut
from .errors import Issue

#: One desired-state file may be this big. 10,000 apps declaring nine fields each take ~3 MB;
#: declaring every field of every app (and an exception each) takes ~12 MB, which then has to be
#: split over several files: the limit is per file, not per folder.
MAX_FILE_BYTES = 5_000_000
#: Valid desired state needs five levels (document > apps > app > policies > refresh_token).
MAX_DEPTH = 64
#: Nodes one document may expand to, aliases counted at their full size. 10,000 apps that
#: declare every field, with an exception each, are 820,008 nodes (and 12 MB without aliases).
MAX_NODES = 2_000_000
#: Longest rendering of a user value inside an error message.
SHOWN_CHARS = 80
YAML_SUFFIXES = (".yaml", ".yml")

try:  # libyaml makes parsing ~10x faster; PyYAML without it still works, only slower.
    from yaml import CSafeLoader as _FastSafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _FastSafeLoader = None  # type: ignore[assignment,misc]


def shorten(value: Any, limit: int = SHOWN_CHARS) -> str:
    """repr() of a value, cut to `limit` characters with an ellipsis.

    Built lazily piece by piece, so a value with millions of elements (or one that contains
    itself) costs only the first `limit` characters; repr() would render all of it first."""
    out: list[str] = []
    size = 0
    for piece in _repr_pieces(value, limit):
        out.append(piece)
        size += len(piece)
        if size > limit:
            return "".join(out)[:limit] + "…"
    return "".join(out)


def _repr_pieces(value: Any, limit: int) -> Iterator[str]:
    if isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ", " if i else ""
            yield from _repr_pieces(key, limit)
            yield ": "
            yield from _repr_pieces(item, limit)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for i, item in enumerate(value):
            yield ", " if i else ""
            yield from _repr_pieces(item, limit)
        yield "]"
    elif isinstance(value, str | bytes) and len(value) > limit:
        yield repr(value[: limit + 1])
    else:
        yield repr(value)


def _reason(exc: OSError) -> str:
    """The OS's words for a failure, without Python's `[Errno n]` and path decoration."""
    return exc.strerror or type(exc).__name__


class LocatedDict(dict[Any, Any]):
    """A mapping that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


# -- finding files ---------------------------------------------------------------------------


def find_yaml_files(root: Path) -> tuple[list[Path], list[Issue]]:
    """Every *.yaml / *.yml under `root` (or `root` itself if it is a file), and every entry
    that could not be examined.

    Path.rglob would silently skip unreadable folders, broken links and link loops; here each
    is an Issue naming the path and the OS's reason. Symbolic links are followed, so a link to
    a shared folder works; a link back to a folder being walked is reported as a loop.
    """
    if not root.is_dir():
        if root.exists() and not root.is_file():  # a FIFO would block the read forever
            return [], [Issue(str(root), None, "", "cannot read: not a regular file")]
        return [root], []
    files: list[Path] = []
    issues: list[Issue] = []
    root_stat = root.stat()
    # (folder, identities of the folders from root down to it): a loop is a link to one of them.
    pending: list[tuple[Path, frozenset[tuple[int, int]]]] = [
        (root, frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    ]
    while pending:
        folder, ancestors = pending.pop()
        try:
            with os.scandir(folder) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as exc:
            issues.append(Issue(str(folder), None, "", f"cannot read folder: {_reason(exc)}"))
            continue
        for name in names:
            path = folder / name
            try:
                info = path.stat()  # follows links: a broken one or a link cycle fails here
            except OSError as exc:
                kind = "symbolic link" if path.is_symlink() else "entry"
                issues.append(Issue(str(path), None, "", f"cannot read {kind}: {_reason(exc)}"))
                continue
            if stat.S_ISDIR(info.st_mode):
                identity = (info.st_dev, info.st_ino)
                if identity in ancestors:
                    issues.append(
                        Issue(
                            str(path),
                            None,
                            "",
                            "symbolic link loop: leads back to a folder that contains it",
                        )
                    )
                else:
                    pending.append((path, ancestors | {identity}))
            elif path.suffix in YAML_SUFFIXES:
                if stat.S_ISREG(info.st_mode):
                    files.append(path)
                else:
                    issues.append(Issue(str(path), None, "", "cannot read: not a regular file"))
    return sorted(files), issues


def read_source(path: Path, display: str) -> tuple[bytes | None, list[Issue]]:
    """The file's bytes, or an Issue if it cannot be read or is over MAX_FILE_BYTES.

    The size is checked before reading (and the read itself is capped, for a file that grows
    or is not what fstat says), so an oversized file costs nothing."""
    limit = f"the {MAX_FILE_BYTES // 1_000_000} MB limit for one desired-state file"
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                return None, [Issue(display, None, "", f"{size / 1e6:.1f} MB is over {limit}")]
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Issue(display, None, "", f"cannot read file: {_reason(exc)}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Issue(display, None, "", f"more than {limit}")]
    return raw, []


# -- bounding before composing ---------------------------------------------------------------


def _too_many_nodes(display: str, line: int | None, where: str) -> Issue:
    return Issue(
        display,
        line,
        "",
        f"the document expands to more than {MAX_NODES:,} YAML nodes, aliases included{where}; "
        "that is the limit for one file",
    )


def _scan_limits(text: str, display: str, loader: type) -> Issue | None:
    """Depth and expanded size of every document, from the event stream: linear, no recursion.

    Each node counts 1; an alias counts the full size of the node its anchor names (remembered
    when that node closed), so `[*a, *a]` of a 1,000-node `a` counts 2,001. An alias to a node
    that is still open would make the data contain itself: refused too."""
    depth = 0
    total = 0
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, total before the node)
    sizes: dict[str, int] = {}
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.DocumentStartEvent):
            total, sizes = 0, {}
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, before = open_nodes.pop()
            depth -= 1
            if anchor is not None:
                sizes[anchor] = total - before
        elif isinstance(event, yaml.AliasEvent):
            name = event.anchor or ""
            if any(anchor == name for anchor, _ in open_nodes):
                return Issue(
                    display,
                    line,
                    "",
                    f"alias *{cut(name, 40)} refers to a node that contains it; "
                    "recursive data is not allowed",
                )
            total += sizes.get(name, 1)  # an undefined alias is left to the composer to report
            if total > MAX_NODES:
                return _too_many_nodes(display, line, f" (at alias *{cut(name, 40)})")
        elif isinstance(event, yaml.NodeEvent):
            total += 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return Issue(
                        display, line, "", f"nested more than {MAX_DEPTH} levels deep (the limit)"
                    )
                open_nodes.append((event.anchor, total - 1))
            elif event.anchor is not None:
                sizes[event.anchor] = 1
            if total > MAX_NODES:
                return _too_many_nodes(display, line, "")
    return None


# -- composing with line numbers -------------------------------------------------------------


class _LocatingConstructor:
    """Mixin for a SafeLoader: mappings are LocatedDicts; duplicate keys are recorded, not merged.

    Works on top of the C parser as well as the Python one: it needs only the composed nodes'
    start marks, which both provide."""

    file: str
    issues: list[Issue]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocatedDict:
        self.flatten_mapping(node)  # type: ignore[attr-defined]
        mapping = LocatedDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool | float) and key is not None:
                self.issues.append(
                    Issue(self.file, line, shorten(key), "keys must be plain strings")
                )
                continue
            if key in mapping:
                self.issues.append(
                    Issue(
                        self.file,
                        line,
                        cut(str(key), SHOWN_CHARS),
                        f"duplicate key (first defined on line {mapping.key_lines[key]})",
                    )
                )
                continue
            try:
                mapping[key] = self.construct_object(value_node, deep=deep)  # type: ignore[attr-defined]
            except ValueError as exc:  # e.g. a date like 2027-02-30 that YAML cannot build
                self.issues.append(
                    Issue(
                        self.file,
                        line,
                        cut(str(key), SHOWN_CHARS),
                        f"invalid value: {cut(str(exc), 200)}",
                    )
                )
                mapping[key] = None
            mapping.key_lines[key] = line
        return mapping


def _loader_class(base: type) -> type:
    class Loader(_LocatingConstructor, base):  # type: ignore[misc]
        def __init__(self, stream: str, file: str) -> None:
            super().__init__(stream)
            self.file = file
            self.issues = []

    Loader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        lambda loader, node: loader.construct_mapping(node, deep=True),
    )
    return Loader


#: (parser for the limit scan, locating loader), fastest first.
_LOADERS: list[tuple[type, type]] = [(yaml.SafeLoader, _loader_class(yaml.SafeLoader))]
if _FastSafeLoader is not None:
    _LOADERS.insert(0, (_FastSafeLoader, _loader_class(_FastSafeLoader)))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a tree is built.

    Composing allocates hundreds of thousands of small objects, and each generation-2 pass
    re-walks all of them: for a 10,000-app file that is most of the load time. The tree has no
    cycles (recursive aliases are refused first) and its size is bounded above, so nothing
    accumulates that only the cyclic collector could free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _syntax_issue(exc: yaml.YAMLError, display: str) -> Issue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = cut(exc.problem or str(exc), 200)
        context = f" ({cut(exc.context, 200)})" if exc.context else ""
        return Issue(display, line, "", f"YAML syntax error: {problem}{context}")
    return Issue(display, None, "", f"YAML error: {cut(str(exc), 200)}")


def parse_yaml(text: str, display: str) -> tuple[Any, list[Issue]]:
    """Parse one document; every failure becomes an Issue with a line where there is one.

    The C parser does the work when PyYAML has it. If it rejects the text, the pure-Python
    parser runs again over it, so syntax errors always read the same (PyYAML's wording, as
    documented and tested), whether or not libyaml is installed; that costs time only on
    files that are broken anyway."""
    for base, loader_class in _LOADERS:
        try:
            problem = _scan_limits(text, display, base)
            if problem is not None:
                return None, [problem]
            loader = loader_class(text, display)
            try:
                with _collector_paused():
                    data = loader.get_single_data()
            finally:
                loader.dispose()
            return data, loader.issues
        except yaml.YAMLError as exc:
            if base is not yaml.SafeLoader:
                continue
            return None, [_syntax_issue(exc, display)]
        except (ValueError, OverflowError) as exc:  # a scalar YAML cannot build, outside a map
            return None, [Issue(display, None, "", f"invalid value: {cut(str(exc), 200)}")]
    raise AssertionError("unreachable: the pure-Python loader always returns")


def parse_bytes(raw: bytes, display: str) -> tuple[Any, list[Issue]]:
    """Decode UTF-8 and parse; undecodable bytes are an Issue, not a raise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Issue(display, None, "", f"cannot read file: not UTF-8 text ({exc.reason})")]
    return parse_yaml(text, display)

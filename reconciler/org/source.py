"""An Org backed by an SFDX source folder (`-o source:PATH`).

Teams that deploy with `sf project deploy` keep their ECA files in git; this adapter lets the
desired YAML be the source of truth for those files. To the planner, applier, export and audit
it is an org like any other: components are typed by the same WSDL schema and in the same
order as the live adapter's (metadata_xml.py), satellites are matched to their app by
`externalClientApplication`, never by file name (eca doc §7), and secrets in the files are
registered for redaction as soon as they are read.

What differs from an org, honestly:
- the org id is `source:<absolute path>` (there is no Organization record);
- there are no users, so `query` raises an OrgError with code NO_USERS, which the risk lookup
  reports as skipped rather than failed;
- `update` edits the files in place, byte for byte outside the planned elements
  (source_edit.py), and writes each through fileio.write_atomic, keeping its mode; a
  read-only file or a symlink is refused, naming it, before anything in the call is written.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from .. import fields as F
from ..errors import IncompleteResponse, OrgError, ReconcilerError
from ..fileio import write_atomic
from ..model import Component
from ..redaction import register_secret
from .interface import NO_USERS, SaveOutcome
from .metadata_xml import _children, _spec
from .soap import MD_NS
from .source_edit import SourceEditError, remove_element, scan, set_element

log = logging.getLogger(__name__)

#: Source-format suffix -> metadata type (eca doc §1; SDR adds `-meta.xml`).
SUFFIXES: dict[str, str] = {
    ".eca-meta.xml": F.APP_TYPE,
    ".ecaGlblOauth-meta.xml": F.SETTINGS_TYPE,
    ".ecaOauth-meta.xml": "ExtlClntAppOauthSettings",
    ".ecaOauthPlcy-meta.xml": F.POLICIES_TYPE,
}
#: A retrieved ECA file is a few KB; anything far larger is not one and is not parsed.
MAX_FILE_BYTES = 1_000_000
#: Statuses of a failed file write, in the SaveResult shape the applier reports.
FILE_ERROR = "SOURCE_FILE_ERROR"

_PARSER = etree.XMLParser(
    recover=False, resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
)


def _type_of(file_name: str) -> tuple[str, str] | None:
    """(type, fullName) for a file name with one of the ECA suffixes."""
    for suffix, type_name in SUFFIXES.items():
        if file_name.endswith(suffix) and len(file_name) > len(suffix):
            return type_name, file_name[: -len(suffix)]
    return None


def scan_folder(root: Path) -> dict[str, dict[str, Path]]:
    """type -> fullName -> file, for every ECA file under `root` (hidden folders skipped:
    `.sf`/`.sfdx` hold CLI caches, not the project's metadata)."""
    found: dict[str, dict[str, Path]] = {t: {} for t in SUFFIXES.values()}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        for file_name in sorted(files):
            typed = _type_of(file_name)
            if typed is None:
                continue
            type_name, full_name = typed
            path = Path(folder) / file_name
            other = found[type_name].get(full_name)
            if other is not None:
                raise ReconcilerError(
                    f"{other} and {path} are both the {type_name} {full_name!r}; a project "
                    "(and an org) holds one component per name: remove one"
                )
            found[type_name][full_name] = path
    return found


def parse_file(path: Path, type_name: str, full_name: str) -> Component:
    """One source file as the Component the live adapter would return for it."""
    data = read_bytes(path)
    root = _parse(data, path)
    return _component(root, path, type_name, full_name)


def read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IncompleteResponse(
                f"{path}: {size} bytes; an ECA source file is a few KB (limit {MAX_FILE_BYTES})"
            )
        return path.read_bytes()
    except OSError as exc:
        raise OrgError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse(data: bytes, path: Path) -> etree._Element:
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or exc.position[0]
        raise IncompleteResponse(f"{path}:{line}: not well-formed XML ({exc.msg})") from None


def _component(root: etree._Element, path: Path, type_name: str, full_name: str) -> Component:
    """A source file's root is `<TypeName xmlns=metadata>` with no xsi:type and no fullName
    (the file name carries it); type it through the same schema walk as a readMetadata record."""
    expected = f"{{{MD_NS}}}{type_name}"
    if root.tag != expected:
        raise IncompleteResponse(
            f"{path}: the root element is {_local(root.tag)} in namespace "
            f"{etree.QName(root).namespace or '(none)'}; a {path.name.split('.', 1)[-1]} file "
            f'holds <{type_name} xmlns="{MD_NS}">'
        )
    fields = _children(root, _spec(type_name), str(path))
    named = fields.pop("fullName", None)
    if named is not None and named != full_name:
        raise IncompleteResponse(
            f"{path}: <fullName> says {named!r} but the file name says {full_name!r}"
        )
    for value in F.secret_values(fields):
        register_secret(value)
    return Component(type_name, full_name, fields)


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


class SourceOrg:
    """The ECA components of an SFDX project folder, read and written as files."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ReconcilerError(
                f"-o source:{root}: not a folder; give an SFDX project or package folder "
                "(e.g. force-app) holding *.eca-meta.xml files"
            )
        self.root = root.resolve()
        self.instance_url = self.root.as_uri()
        self._files: dict[str, dict[str, Path]] = {}
        self._lock = threading.Lock()

    @property
    def org_id(self) -> str:
        return f"source:{self.root}"

    def _index(self, refresh: bool = False) -> dict[str, dict[str, Path]]:
        with self._lock:
            if refresh or not self._files:
                self._files = scan_folder(self.root)
            return self._files

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        index = self._index(refresh=True)
        return {t: sorted(index.get(t, {})) for t in types}

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        """Read the files again every time: the applier re-reads just before writing and to
        verify, and a file edited in between must be seen, as an org's change would be."""
        files = self._index().get(type_name, {})
        out = []
        for name in names:
            path = files.get(name)
            if path is None or not path.is_file():
                continue  # unknown name: left out, as the Org protocol says
            out.append(parse_file(path, type_name, name))
        return out

    def update(self, type_name: str, components: Sequence[Component]) -> list[SaveOutcome]:
        files = self._index().get(type_name, {})
        # Every file of the call is checked before any is written, so a refused file never
        # leaves this call half done.
        refused = {
            c.full_name: why
            for c in components
            if (path := files.get(c.full_name)) is not None and (why := _unwritable(path))
        }
        outcomes = []
        for component in components:
            path = files.get(component.full_name)
            if path is None:
                outcomes.append(
                    SaveOutcome(
                        component.full_name,
                        False,
                        [(FILE_ERROR, f"no {type_name} file named {component.full_name}")],
                    )
                )
                continue
            if component.full_name in refused:
                error = (FILE_ERROR, refused[component.full_name])
                outcomes.append(SaveOutcome(component.full_name, False, [error]))
                continue
            try:
                _write_component(path, component)
            except (SourceEditError, ReconcilerError) as exc:
                outcomes.append(SaveOutcome(component.full_name, False, [(FILE_ERROR, str(exc))]))
                continue
            outcomes.append(SaveOutcome(component.full_name, True))
        return outcomes

    def query(self, soql: str) -> list[dict[str, Any]]:
        raise OrgError("a source folder has no users", NO_USERS)

    def describe(self, sobject: str) -> list[dict[str, Any]]:
        raise OrgError("a source folder has no users", NO_USERS)


def _unwritable(path: Path) -> str | None:
    """Why this file must not be edited in place, or None.

    A file is written by replacing it (fileio.write_atomic), which would turn a symlink into a
    regular file (its target left as it was) and would replace a read-only file, whose mode is
    how a team says "do not edit" (the owner's write bit is checked, not os.access, which says
    yes to root for any file)."""
    try:
        if path.is_symlink():
            return f"{path} is a symbolic link; not written (edit its target, or replace the link)"
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot inspect {path}: {exc.strerror or exc}; not written"
    if not mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        return f"{path} is read-only (mode {stat.S_IMODE(mode):04o}); not written"
    return None


def _encoding(data: bytes) -> str:
    head = data[:200].decode("ascii", "replace")
    marker = head.find("encoding=")
    if head.startswith("<?xml") and marker > 0:
        quote = head[marker + 9 : marker + 10]
        return head[marker + 10 : head.find(quote, marker + 10)] or "utf-8"
    return "utf-8"


def _write_component(path: Path, component: Component) -> None:
    """Read-modify-write of one file: only elements whose value differs are touched.

    Rotation triggers (shouldRotate*) keep the file's value: in a source file `true` is the
    author's instruction for the next deploy. The applier clears a read-back `true` only so a
    live org does not rotate again; rewriting the file would change what the team deploys.
    """
    data = read_bytes(path)
    root = _parse(data, path)
    try:
        seen = [_local(c.tag) for c in root if isinstance(c.tag, str)]
        if [c.name for c in scan(data).children] != seen:
            raise SourceEditError("the file's layout is not one this tool can edit in place")
    except SourceEditError as exc:
        raise SourceEditError(f"{path}: {exc}; edit it by hand") from None
    current = _component(root, path, component.type, component.full_name).fields
    wanted = {k: v for k, v in component.fields.items() if k not in F.ROTATE_FIELDS}
    for flag in F.ROTATE_FIELDS:
        if flag in current:
            wanted[flag] = current[flag]
    changed = sorted(k for k in set(current) | set(wanted) if current.get(k) != wanted.get(k))
    if not changed:
        return
    encoding = _encoding(data)
    new = data
    for name in changed:
        try:
            if wanted.get(name) is None:
                new = remove_element(new, name)
            else:
                new = set_element(new, name, wanted[name], encoding)
        except SourceEditError as exc:
            raise SourceEditError(f"{path}: {name}: {exc}; nothing was written") from None
    after = _component(_parse(new, path), path, component.type, component.full_name).fields
    if {k: v for k, v in after.items() if k not in F.ROTATE_FIELDS} != {
        k: v for k, v in wanted.items() if k not in F.ROTATE_FIELDS
    }:
        raise SourceEditError(
            f"{path}: the edited file would not read back as planned; not written"
        )
    # The temp file is created 0600: the edited file keeps the mode it had.
    write_atomic(path, new, mode=stat.S_IMODE(path.stat().st_mode))
    log.debug("wrote %s (%s)", path, ", ".join(changed))

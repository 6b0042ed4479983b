"""Check the built sdist and wheel: name, version, licence, and every file of the package.

Usage: python .ci/check_dist.py DIST_DIR (holding one *.tar.gz and one *.whl). Every file under
reconciler/ except bytecode must be in the wheel (package data such as py.typed included), and
the metadata must carry the distribution name, the version from reconciler/__init__.py, the
licence and the console script. Exits 1 naming what is missing.
"""

from __future__ import annotations

import ast
import email.parser
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "eca-reconciler"


def version() -> str:
    tree = ast.parse((ROOT / "reconciler" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return str(ast.literal_eval(node.value))
    raise SystemExit("reconciler/__init__.py has no __version__")


def main(dist: Path) -> list[str]:
    problems: list[str] = []
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    want = version()
    stem = NAME.replace("-", "_")
    if not wheel.name.startswith(f"{stem}-{want}-"):
        problems.append(f"wheel {wheel.name}: expected {stem}-{want}-*.whl")
    if sdist.name != f"{stem}-{want}.tar.gz":
        problems.append(f"sdist {sdist.name}: expected {stem}-{want}.tar.gz")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        info = f"{stem}-{want}.dist-info"
        meta = email.parser.Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    package = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "reconciler").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    problems += [f"wheel lacks {name}" for name in sorted(package - names)]
    if f"{info}/licenses/LICENSE" not in names:
        problems.append("wheel lacks the LICENSE file")
    expected = {"Name": NAME, "Version": want, "License-Expression": "Apache-2.0"}
    for field, value in expected.items():
        if meta.get(field) != value:
            problems.append(f"METADATA {field}: {meta.get(field)!r}, expected {value!r}")
    if "reconciler = reconciler.cli:run" not in entry_points:
        problems.append("no `reconciler` console script (reconciler.cli:run)")
    runtime = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    if not runtime or any(req.startswith("zeep") for req in runtime):
        problems.append(f"runtime dependencies {runtime}: none, or zeep again (nothing imports it)")
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "reconciler/py.typed"):
        if needed not in in_sdist:
            problems.append(f"sdist lacks {needed}")
    size = wheel.stat().st_size
    print(f"dist: {wheel.name} ({size / 1024:.0f} KiB, {len(names)} files), {sdist.name}")
    return problems


if __name__ == "__main__":
    found = main(Path(sys.argv[1]))
    for problem in found:
        print(f"CI: {problem}", file=sys.stderr)
    sys.exit(1 if found else 0)

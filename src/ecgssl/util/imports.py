"""Which of the package's own modules a script reaches, found statically.

The workflow gives each rule a digest of the library code its results depend on (its
``code`` parameter: module -> SHA-256 of the module's source), so that an edit reruns
exactly the rules that run the edited code. The modules are derived here from the
import graph of the rule's script instead of being listed by hand: the source of
every module is parsed with :mod:`ast` (nothing is imported, so building the DAG
never pays for torch) and every ``import`` of an ``ecgssl`` module is followed, at
module level and inside functions alike, transitively. Importing ``a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py`` first, so those count too.

A string constant of the form ``"ecgssl.some.module:function"`` counts as an import
of that module: it is how a script hands a call to the job server
(:mod:`ecgssl.util.jobserver`). Other modules loaded by name at run time
(``importlib.import_module``, the dataset registry) are invisible to this analysis;
callers add them as extra roots.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

__all__ = [
    "NO_RESULT_MODULES",
    "PACKAGE",
    "code_digest",
    "has_code",
    "module_file",
    "reachable_modules",
]

PACKAGE = "ecgssl"

#: Modules whose edits cannot change any result, left out of every rule's ``code``
#: digest on purpose: the package's version string (recorded in provenance only), the
#: docstring-only ``util`` package, error types (what a failure says), logging set-up,
#: atomic file writing (whether and where an output appears, never its content) and
#: the job server (which process runs a job, never what it computes). What they
#: import is still followed.
NO_RESULT_MODULES: frozenset[str] = frozenset(
    {
        "ecgssl",
        "ecgssl.util",
        "ecgssl.util.errors",
        "ecgssl.util.runlog",
        "ecgssl.util.atomic",
        "ecgssl.util.jobserver",
    }
)


#: ``"ecgssl.module:function"``: a call handed to the job server.
_CALL_TARGET = re.compile(r"^(ecgssl(?:\.\w+)+):\w+$")


@cache
def module_file(name: str, src: Path) -> Path | None:
    """The source file of module ``name`` under ``src``, the package's parent folder.

    Parameters
    ----------
    name : str
        Dotted module name, e.g. ``"ecgssl.data.store"``.
    src : Path
        Folder that contains the top-level package folder.

    Returns
    -------
    Path or None
        ``<name>.py`` or ``<name>/__init__.py``; None if neither exists.
    """
    base = Path(src).joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _resolve_relative(
    module: str | None, level: int, current: str, is_pkg: bool
) -> str:
    parts = current.split(".")
    if not is_pkg:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


@cache
def _direct_imports(path: Path, current: str, src: Path) -> frozenset[str]:
    """Package modules imported anywhere in one file (TYPE_CHECKING blocks skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(node.module, node.level, current, is_pkg)
                if node.level
                else node.module or ""
            )
            found.add(base)
            # ``from a.b import c`` imports the module a.b.c when c is one
            found.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if module_file(f"{base}.{alias.name}", src) is not None
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _CALL_TARGET.match(node.value)
            if match:
                found.add(match.group(1))
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(
        name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")
    )


def reachable_modules(
    roots: Iterable[str | Path], src: str | Path, *, exclude: Iterable[str] = ()
) -> list[str]:
    """Every package module the roots reach through imports, transitively.

    Parameters
    ----------
    roots : iterable of str or Path
        Script files (paths) and/or dotted module names to start from. A root module
        is itself part of the result.
    src : str or Path
        Folder that contains the top-level package folder.
    exclude : iterable of str
        Module names left out of the result (they are still followed: what they
        import counts).

    Returns
    -------
    list of str
        Sorted dotted module names that exist under ``src``.
    """
    src = Path(src).resolve()
    seen: set[str] = set()
    todo: list[str] = []

    def want(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            prefix = ".".join(parts[:i])
            if prefix not in seen and module_file(prefix, src) is not None:
                seen.add(prefix)
                todo.append(prefix)

    for root in roots:
        if isinstance(root, Path) or str(root).endswith(".py"):
            path = Path(root).resolve()
            for name in _direct_imports(path, "__script__", src):
                want(name)
        else:
            want(str(root))
    while todo:
        name = todo.pop()
        path = module_file(name, src)
        if path is None:  # want() only queues existing modules
            continue
        for imported in _direct_imports(path.resolve(), name, src):
            want(imported)
    excluded = set(exclude)
    return sorted(seen - excluded)


@cache
def has_code(path: Path) -> bool:
    """Whether a module holds anything but a docstring and ``__future__`` imports.

    A module without code (a package's docstring-only ``__init__.py``) cannot change
    any result, so :func:`code_digest` leaves it out.
    """
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        return True
    return False


@cache
def _source_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def code_digest(
    roots: Iterable[str | Path],
    src: str | Path,
    *,
    exclude: Iterable[str] = NO_RESULT_MODULES,
) -> dict[str, str]:
    """Module -> short SHA-256 of its source, for every module the roots reach.

    Left out: the modules in ``exclude`` (by default those that cannot change
    results, :data:`NO_RESULT_MODULES`) and modules without code (:func:`has_code`).
    The digest depends only on the files' contents: a project that is moved, copied
    or touched has the same digest; an edit changes it.

    Parameters
    ----------
    roots : iterable of str or Path
        As :func:`reachable_modules`.
    src : str or Path
        Folder that contains the top-level package folder.
    exclude : iterable of str
        Module names left out.

    Returns
    -------
    dict
        Sorted by module name.
    """
    src = Path(src).resolve()
    out = {}
    for name in reachable_modules(roots, src, exclude=exclude):
        path = module_file(name, src)
        if path is not None and has_code(path.resolve()):
            out[name] = _source_digest(path.resolve())
    return out

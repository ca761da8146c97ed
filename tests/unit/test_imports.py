"""Static import graph behind the rules' derived ``code`` inputs."""

from __future__ import annotations

from pathlib import Path

from ecgssl.util.imports import (
    NO_RESULT_MODULES,
    code_digest,
    has_code,
    module_file,
    reachable_modules,
)

REPO = Path(__file__).resolve().parents[2]


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "ecgssl" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_follows_every_kind_of_import_and_nothing_else(tmp_path):
    src = _package(
        tmp_path / "src",
        {
            "__init__.py": "",
            "a.py": "from ecgssl import b\nimport numpy\n",
            "b.py": "def f():\n    from .sub import c  # lazy, relative\n",
            "sub/__init__.py": "from . import d\n",
            "sub/c.py": "from ecgssl.sub.d import thing\n",
            "sub/d.py": "thing = 1\n",
            "e.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ecgssl import unused\n"
            ),
            "unused.py": "",
            "never.py": "",
        },
    )
    script = tmp_path / "script.py"
    script.write_text("from ecgssl.a import x\nimport ecgssl.e\n")
    assert reachable_modules([script], src) == [
        "ecgssl",
        "ecgssl.a",
        "ecgssl.b",
        "ecgssl.e",
        "ecgssl.sub",
        "ecgssl.sub.c",
        "ecgssl.sub.d",
    ]
    # a module named as a root counts, as do its imports; exclusions are still followed
    assert reachable_modules(
        ["ecgssl.never", "ecgssl.a"], src, exclude={"ecgssl.a"}
    ) == [
        "ecgssl",
        "ecgssl.b",
        "ecgssl.never",
        "ecgssl.sub",
        "ecgssl.sub.c",
        "ecgssl.sub.d",
    ]


def test_no_result_modules_exist():
    """The list names only modules that exist (a stale name would hide nothing)."""
    for name in NO_RESULT_MODULES:
        assert module_file(name, REPO / "src") is not None, name


def test_code_digest_follows_contents_not_paths_and_skips_code_free_modules(tmp_path):
    files = {
        "__init__.py": '"""Docstring only."""\nfrom __future__ import annotations\n',
        "a.py": "from ecgssl import b\n",
        "b.py": "X = 1\n",
        "quiet.py": "X = 2\n",
    }
    one = _package(tmp_path / "one", files)
    two = _package(tmp_path / "elsewhere" / "two", files)
    script = tmp_path / "script.py"
    script.write_text("import ecgssl.a\nimport ecgssl.quiet\n")
    digest = code_digest([script], one, exclude={"ecgssl.quiet"})
    assert list(digest) == ["ecgssl.a", "ecgssl.b"]  # no code in __init__, excluded
    assert digest == code_digest([script], two, exclude={"ecgssl.quiet"})  # moved
    (two / "ecgssl" / "b.py").write_text("X = 3\n")
    _clear_caches()
    edited = code_digest([script], two, exclude={"ecgssl.quiet"})
    assert edited["ecgssl.a"] == digest["ecgssl.a"]
    assert edited["ecgssl.b"] != digest["ecgssl.b"]
    assert not has_code(one / "ecgssl" / "__init__.py")
    assert has_code(one / "ecgssl" / "b.py")


def _clear_caches():
    import ecgssl.util.imports as imports

    for name in ("_source_digest", "_direct_imports", "has_code", "module_file"):
        getattr(imports, name).cache_clear()

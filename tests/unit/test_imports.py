"""Static import graph behind the rules' derived ``code`` inputs."""

from __future__ import annotations

from pathlib import Path

from ecgssl.util.imports import NO_RESULT_MODULES, module_file, reachable_modules

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

"""The per-rule conda environments (envs/*.yaml) provide what rules' code imports."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
RULES = REPO / "workflow" / "rules"
ENVS = REPO / "envs"

# top-level module -> conda-forge package that provides it
CONDA_PACKAGE = {
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "mne": "mne-base",
    "sklearn": "scikit-learn",
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
    "openpyxl": "openpyxl",
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "sleepecg": "sleepecg",
    "neurokit2": "neurokit2",
}
# conda-forge package -> PyPI name in pyproject.toml
PYPI_NAME = {"mne-base": "mne", "pytorch": "torch", "matplotlib-base": "matplotlib"}
# libraries that other libraries load by name: a call to the attribute needs the package
IMPLICIT = {
    "read_excel": "openpyxl",
    "to_excel": "openpyxl",
    "to_parquet": "pyarrow",
    "read_parquet": "pyarrow",
}
# provided by Snakemake itself (the script preamble puts the host's paths on sys.path)
HOST = {"snakemake"}
# imported only where the user installed it: h5py reads the optional PLUX reference
# recordings, which `make reference-ecg` installs together with it (a pip venv)
OPTIONAL = {"h5py"}


# ---- which modules a rule's script reaches ----
def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


@dataclass
class _Module:
    name: str
    tree: ast.Module
    defs: dict[str, ast.AST]

    @classmethod
    def load(cls, name: str) -> _Module | None:
        path = _module_file(name)
        if path is None:
            return None
        tree = ast.parse(path.read_text(), str(path))
        defs = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        return cls(name, tree, defs)


def _walk(nodes: list[ast.stmt], *, into_defs: bool) -> list[ast.AST]:
    """Nodes of a body, skipping TYPE_CHECKING blocks (and nested defs unless asked)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        out.append(node)
        if not into_defs and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


class Reach:
    """Third-party modules a script can import, following ``ecgssl`` code.

    Module-level imports of every reached module count; imports inside a function or
    class count when the function is reached: imported by name from a reached module,
    called from a reached function of the same module, or defined in a module loaded
    by ``importlib.import_module`` (the dataset registry).
    """

    def __init__(self) -> None:
        self.modules: dict[str, _Module | None] = {}
        self.functions: set[tuple[str, str]] = set()
        self.third_party: set[str] = set()
        self.attributes: set[str] = set()
        self._todo: list[tuple[str, str | None]] = []

    def add_script(self, path: Path) -> Reach:
        tree = ast.parse(path.read_text(), str(path))
        self._scan(tree.body, "__script__", into_defs=True)
        self._run()
        return self

    def _want(self, module: str, name: str | None = None) -> None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            self._todo.append((".".join(parts[:i]), None))
        if name is not None:
            self._todo.append((module, name))

    def _scan(self, body: list[ast.stmt], module: str, *, into_defs: bool) -> None:
        mod = self.modules.get(module)
        for node in _walk(body, into_defs=into_defs):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._import(alias.name)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                self._import(node.module)
                if node.module.split(".")[0] == "ecgssl":
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        if _module_file(sub) is not None:
                            self._want(sub)
                        else:
                            self._want(node.module, alias.name)
            elif isinstance(node, ast.Attribute):
                self.attributes.add(node.attr)
            elif isinstance(node, ast.Call) and mod is not None:
                callee = node.func
                if isinstance(callee, ast.Name) and callee.id in mod.defs:
                    self._todo.append((module, callee.id))
                if "import_module" in ast.unparse(callee) and node.args:
                    self._dynamic(node.args[0])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"ecgssl(\.\w+)+", node.value) and _module_file(
                    node.value
                ):
                    self._want(node.value, "*")
                # a job server call target, "ecgssl.stages.folds:folds_stage"
                target = re.fullmatch(r"(ecgssl(?:\.\w+)+):(\w+)", node.value)
                if target and _module_file(target[1]):
                    self._want(target[1], target[2])

    def _dynamic(self, arg: ast.expr) -> None:
        """``import_module(f"ecgssl.pkg.{name}")``: every module of that package."""
        if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
            prefix = str(arg.values[0].value)
            package = prefix.rstrip(".")
            folder = _module_file(package)
            if prefix.endswith(".") and folder is not None:
                for path in folder.parent.glob("*.py"):
                    if path.stem != "__init__":
                        self._want(f"{package}.{path.stem}", "*")

    def _import(self, name: str) -> None:
        top = name.split(".")[0]
        if top == "ecgssl":
            self._want(name)
        elif top not in sys.stdlib_module_names and top != "__future__":
            self.third_party.add(top)

    def _run(self) -> None:
        while self._todo:
            module, name = self._todo.pop()
            if module not in self.modules:
                self.modules[module] = mod = _Module.load(module)
                if mod is not None:
                    self._scan(mod.tree.body, module, into_defs=False)
            mod = self.modules[module]
            if name is None or mod is None:
                continue
            names = list(mod.defs) if name == "*" else [name]
            for n in names:
                if (module, n) in self.functions or n not in mod.defs:
                    continue
                self.functions.add((module, n))
                node = mod.defs[n]
                self._scan(list(ast.iter_child_nodes(node)), module, into_defs=True)

    def packages(self) -> set[str]:
        """Conda packages the reached code needs (unknown modules map to themselves)."""
        needed = {CONDA_PACKAGE.get(m, m) for m in self.third_party - HOST - OPTIONAL}
        needed |= {pkg for attr, pkg in IMPLICIT.items() if attr in self.attributes}
        return needed


# ---- the rules and the env files ----
@dataclass(frozen=True)
class Rule:
    name: str
    conda: Path | None
    script: Path | None
    benchmark: str | None = None


def parse_rules() -> list[Rule]:
    """Every rule of workflow/rules/*.smk with its conda env and script."""
    rules = []
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            body = match.group(2)
            paths = {}
            for key in ("conda", "script"):
                found = re.search(rf"^    {key}:\n\s+\"([^\"]+)\"", body, re.M)
                paths[key] = (smk.parent / found.group(1)).resolve() if found else None
            bench = re.search(r"^    benchmark:\n\s+\"([^\"]+)\"", body, re.M)
            rules.append(
                Rule(
                    match.group(1),
                    paths["conda"],
                    paths["script"],
                    bench.group(1) if bench else None,
                )
            )
    return rules


def env_packages(path: Path) -> dict[str, str]:
    """Conda package name -> version spec ('' if none) of an environment file."""
    env = yaml.safe_load(path.read_text())
    out = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", dep.strip())
        assert match, f"{path.name}: cannot parse dependency {dep!r}"
        out[match.group(1)] = match.group(2).strip()
    return out


def pyproject_specs() -> dict[str, str]:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    out = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", dep.strip())
        out[match.group(1).lower()] = match.group(2).replace(" ", "")
    return out


RULE_LIST = parse_rules()
SCRIPT_RULES = [r for r in RULE_LIST if r.script is not None]


# ---- tests ----
def test_rules_were_found():
    names = {r.name for r in RULE_LIST}
    assert {"window_dataset", "pretrain_encoder", "aggregate_metrics"} <= names
    assert len(SCRIPT_RULES) >= 7


@pytest.mark.parametrize("rule", RULE_LIST, ids=lambda r: r.name)
def test_every_rule_with_code_names_an_existing_env(rule):
    if rule.script is None:  # e.g. `rule all`: nothing runs
        return
    assert rule.conda is not None, f"rule {rule.name} has no conda: directive"
    assert rule.conda.parent == ENVS, f"rule {rule.name}: env outside envs/"
    assert rule.conda.is_file(), f"rule {rule.name}: {rule.conda} does not exist"


@pytest.mark.parametrize("rule", SCRIPT_RULES, ids=lambda r: r.name)
def test_every_job_writes_a_benchmark_file(rule):
    # the run's per-stage time breakdown (bench/make_run.py) reads them all
    assert rule.benchmark is not None, f"rule {rule.name} has no benchmark: file"
    assert rule.benchmark.startswith(f"benchmarks/{rule.name}/"), rule.benchmark
    assert rule.benchmark.endswith(".tsv"), rule.benchmark


@pytest.mark.parametrize("rule", SCRIPT_RULES, ids=lambda r: r.name)
def test_env_provides_every_import_of_the_rule(rule):
    needed = Reach().add_script(rule.script).packages()
    provided = set(env_packages(rule.conda))
    missing = needed - provided
    assert not missing, (
        f"rule {rule.name} imports code that needs {sorted(missing)}, "
        f"which {rule.conda.name} does not list"
    )


def test_reach_finds_the_heavy_imports_where_they_are_used():
    """The analysis is not vacuous: known imports are found, lazy ones only if used."""
    by_rule = {r.name: Reach().add_script(r.script).packages() for r in SCRIPT_RULES}
    assert {"mne-base", "scipy", "pyarrow", "openpyxl"} <= by_rule["window_dataset"]
    assert {"pytorch", "scikit-learn"} <= by_rule["finetune_classifier"]
    assert "pytorch" in by_rule["pretrain_encoder"]
    assert "matplotlib-base" in by_rule["aggregate_metrics"]
    # stages.py imports torch and matplotlib only inside the stages that need them
    assert "pytorch" not in by_rule["assign_folds"]
    assert "matplotlib-base" not in by_rule["finetune_classifier"]


def test_reach_follows_lazy_and_dynamic_imports(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from ecgssl.data.datasets import write_synthetic\n")
    reach = Reach().add_script(script)
    # write_synthetic loads ecgssl.data.synthetic.<name> through importlib
    assert "ecgssl.data.synthetic.swell" in reach.modules
    assert "pandas" in reach.third_party
    script.write_text("import ecgssl.util.errors\n")
    assert Reach().add_script(script).packages() == set()


@pytest.mark.parametrize("path", sorted(ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_env_file_is_well_formed_and_used(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) <= {"name", "channels", "dependencies"}
    assert env["channels"] == ["conda-forge"], "conda-forge only, strict priority"
    deps = env_packages(path)
    assert re.fullmatch(r"=3\.1[1-9]", deps.get("python", "")), "pin python 3.11+"
    used = {r.conda for r in RULE_LIST if r.conda is not None}
    assert path.resolve() in used, f"{path.name} is used by no rule"


@pytest.mark.parametrize("path", sorted(ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_env_versions_match_pyproject(path):
    """Every library of an env is a project dependency with the same lower bound."""
    specs = pyproject_specs()
    for name, spec in env_packages(path).items():
        if name in ("python", "pip"):
            continue
        pypi = PYPI_NAME.get(name, name)
        assert pypi in specs, f"{path.name}: {name} is not in pyproject dependencies"
        assert spec.replace(" ", "") == specs[pypi], (
            f"{path.name}: {name}{spec} but pyproject.toml has {pypi}{specs[pypi]}"
        )


def test_ecgssl_is_importable_in_rule_envs():
    """Jobs in a conda env import ecgssl through the paths Snakemake appends.

    Snakemake's script preamble extends the env's sys.path with the host interpreter's
    sys.path (snakemake.common.get_snakemake_searchpaths), so the ecgssl that the
    Snakefile imports on the host is the one every job imports.
    """
    from snakemake.common import get_snakemake_searchpaths

    import ecgssl

    root = str(Path(ecgssl.__file__).resolve().parents[1])
    assert root in {str(Path(p).resolve()) for p in get_snakemake_searchpaths()}

"""dvc.yaml lists, for each stage, the Python code the stage runs, compactly and truly: its
script, the `stages/` helpers it imports, `house_price/__init__.py` and the package's top-level
modules it imports, each layer folder (core/, data/, training/, ...) it imports from as one
folder, and single engine modules (engines/<stage>.py and what they share). Imports inside
functions count: they run when the function does. A missing dep means a stale output after an
edit; an extra one, a needless re-run. The layers' folders are the unit: an edit anywhere in a
layer re-runs every stage that imports from it."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run

PACKAGE = "house_price"
PACKAGE_DIR = REPO / "src" / PACKAGE
STAGE_DIR = REPO / "stages"
# The layers a stage depends on as whole folders; engines/ is listed file by file, so that one
# stage's engine code re-runs that stage only.
LAYER_FOLDERS = ("core", "data", "training", "evaluation", "serving", "tracking")


def module_file(name: str, stage_dir: Path, package_dir: Path) -> Path | None:
    """The project file of an absolute module name, None for anything else (stdlib, third
    party). `house_price.x` is in the package; a top-level name is a helper beside the stage."""
    head, _, rest = name.partition(".")
    if head == PACKAGE:
        base = package_dir.joinpath(*rest.split(".")) if rest else package_dir
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None
    candidate = stage_dir / f"{name}.py"
    return candidate if not rest and candidate.is_file() else None


def imported_names(path: Path, package_dir: Path) -> set[str]:
    """Every module name an import statement anywhere in `path` may load (absolute names;
    `from m import x` yields m and m.x, as x may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: only inside the package
                parts = path.relative_to(package_dir.parent).with_suffix("").parts
                anchor = parts[: len(parts) - node.level]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_closure(script: Path, package_dir: Path = PACKAGE_DIR) -> set[Path]:
    """`script` and every project file its imports reach, transitively; importing a package
    submodule runs the package's `__init__.py` (and each parent's) first."""
    stage_dir = script.parent
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path, package_dir):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # house_price, then house_price.x, ...
                found = module_file(".".join(parts[:depth]), stage_dir, package_dir)
                if found is not None:
                    todo.append(found)
    return seen


def stage_scripts() -> dict[str, Path]:
    return {path.stem: path for path in STAGE_DIR.glob("[!_]*.py")}


def listed_code_deps(stage: dict) -> set[str]:
    """The stage's deps that are code: Python files, and folders of the package."""
    return {
        dep for dep in stage["deps"] if dep.endswith(".py") or dep.startswith("src/house_price/")
    }


def compact_deps(closure: set[Path], repo: Path = REPO) -> set[str]:
    """The deps that declare `closure`: each layer folder as a whole, every other file alone."""
    package = repo / "src" / PACKAGE
    deps = set()
    for path in closure:
        inside = path.relative_to(package).parts if path.is_relative_to(package) else ()
        if len(inside) > 1 and inside[0] in LAYER_FOLDERS:
            deps.add(f"src/{PACKAGE}/{inside[0]}")
        else:
            deps.add(path.relative_to(repo).as_posix())
    return deps


def test_every_stage_script_is_a_stage() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(stage_scripts())


@pytest.mark.parametrize("name", sorted(stage_scripts()))
def test_stage_deps_are_its_import_closure(name: str) -> None:
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][name]
    needed = compact_deps(import_closure(stage_scripts()[name]))
    listed = listed_code_deps(stage)
    assert needed <= listed, (
        f"stage {name}: dvc.yaml deps miss {', '.join(sorted(needed - listed))}"
    )
    assert listed <= needed, (
        f"stage {name}: dvc.yaml deps list unused {', '.join(sorted(listed - needed))}"
    )


def test_no_stage_depends_on_the_web_or_drafting_code() -> None:
    """api/ (HTTP) and drafting/ (`profile init`) are faces: an edit there re-runs no stage."""
    for name, script in stage_scripts().items():
        closure = import_closure(script)
        for face in ("api", "drafting"):
            assert not any(path.is_relative_to(PACKAGE_DIR / face) for path in closure), name


def test_compact_deps_folds_layers_only(tmp_path: Path) -> None:
    package = tmp_path / "src" / PACKAGE
    files = [
        package / "__init__.py",
        package / "schema.py",
        package / "core" / "io.py",
        package / "core" / "params.py",
        package / "engines" / "train.py",
        tmp_path / "stages" / "train.py",
    ]
    assert compact_deps(set(files), tmp_path) == {
        f"src/{PACKAGE}/__init__.py",
        f"src/{PACKAGE}/schema.py",
        f"src/{PACKAGE}/core",
        f"src/{PACKAGE}/engines/train.py",
        "stages/train.py",
    }


def test_closure_follows_every_import_form(tmp_path: Path) -> None:
    """A function-level import, `from pkg import module`, `import pkg.module`, relative
    imports and a stage helper are all followed; third-party and unused modules are not."""
    package = tmp_path / "src" / PACKAGE
    stages = tmp_path / "stages"
    package.mkdir(parents=True)
    stages.mkdir()
    files = {
        package / "__init__.py": "",
        package / "a.py": "def late():\n    from house_price.b import thing\n",
        package / "b.py": "import house_price.c\n\nthing = 1\n",
        package / "c.py": "from . import d\nfrom .e import value\n",
        package / "d.py": "import numpy\n",
        package / "e.py": "value = 2\n",
        package / "unused.py": "",
        stages / "_helper.py": "import sys\n",
        stages / "run.py": textwrap.dedent(
            """
            import _helper
            import pandas as pd
            from house_price import a
            """
        ),
    }
    for path, text in files.items():
        path.write_text(text)

    found = import_closure(stages / "run.py", package)
    expected = {stages / "run.py", stages / "_helper.py"}
    expected |= {package / f"{name}.py" for name in ("__init__", "a", "b", "c", "d", "e")}
    assert found == expected


def test_mlflow_model_requirements_cover_its_imports() -> None:
    """The logged MLflow model pins a distribution (tracking.serving_requirements) for every
    third-party module its code imports: house_price.tracking.pyfunc and its import closure,
    the serving core without the web code (FastAPI, Starlette, prometheus-client)."""
    import sys
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    from house_price.tracking.registry import SERVING_DISTRIBUTIONS, serving_requirements

    pinned = {canonicalize_name(name) for name in SERVING_DISTRIBUTIONS}
    assert len(serving_requirements()) == len(pinned)
    distributions = packages_distributions()
    closure = import_closure(PACKAGE_DIR / "tracking" / "pyfunc.py")
    modules = {name.split(".")[0] for path in closure for name in imported_names(path, PACKAGE_DIR)}
    third_party = modules - set(sys.stdlib_module_names) - {PACKAGE, "", "mlflow"}
    assert {"numpy", "pydantic", "xgboost"} <= third_party
    assert not {"fastapi", "fastapi_offline", "starlette", "prometheus_client"} & third_party
    assert not any(path.is_relative_to(PACKAGE_DIR / "api") for path in closure)
    unpinned = {
        module
        for module in third_party
        if not pinned & {canonicalize_name(name) for name in distributions.get(module, [])}
    }
    assert not unpinned, f"serving_requirements() misses the distributions of {sorted(unpinned)}"


@pytest.mark.slow
def test_other_data_sets_do_not_touch_the_default_pipeline(workspace: Path) -> None:
    """ingest depends on data/external/<dataset>/ only: a CSV elsewhere under data/external/
    (top level, or another data set's folder) leaves the default pipeline up to date."""
    external = workspace / "data" / "external"
    (external / "stray.csv").write_text("price,sqft\n1,2\n")
    (external / "california").mkdir(exist_ok=True)
    (external / "california" / "california_housing.csv").write_text("median_house_value\n1\n")
    (external / "mydata").mkdir()
    (external / "mydata" / "mydata.csv").write_text("price\n1\n")
    assert json.loads(run(["dvc", "status", "--json"], cwd=workspace).stdout) == {}
    # ... while a file in the default data set's own folder is a change of ingest's dep.
    (external / "houses" / "notes.txt").write_text("a change\n")
    status = json.loads(run(["dvc", "status", "--json"], cwd=workspace).stdout)
    assert list(status) == ["ingest"], status


@pytest.mark.slow
def test_an_api_edit_reruns_no_stage_and_an_evaluation_edit_only_evaluate_and_package(
    workspace: Path,
) -> None:
    """What the folder deps promise, asked of DVC itself: the web package is no stage's code,
    and the evaluation layer is evaluate's and package's only."""

    def edit(relative: str) -> None:
        path = workspace / relative
        path.write_text(path.read_text() + "\n# an edit\n")

    def stale_stages() -> set[str]:
        return set(json.loads(run(["dvc", "status", "--json"], cwd=workspace).stdout))

    assert stale_stages() == set()
    edit("src/house_price/api/routes/predict.py")
    edit("src/house_price/api/main.py")
    assert stale_stages() == set()
    edit("src/house_price/evaluation/gate.py")
    assert stale_stages() == {"evaluate", "package"}
    run(["dvc", "repro"], cwd=workspace)
    assert stale_stages() == set()

"""The engines behind one interface: each stage's module in house_price.engines has an `Engine`
Protocol, a pandas and a Dask implementation of it, and `for_params`, which picks the one the
`engine` param names; no stage script branches on the engine, and the pandas engine's path never
imports Dask."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest
from conftest import REPO

from house_price.core.params import Params, load_params

STAGE_ENGINES = ("ingest", "process", "featurize", "train", "evaluate", "sample")


def on_engine(engine: str) -> Params:
    return load_params(REPO / "params.yaml").model_copy(update={"engine": engine})


@pytest.mark.parametrize("name", STAGE_ENGINES)
def test_for_params_picks_the_engines_implementation_of_the_interface(name: str) -> None:
    module = importlib.import_module(f"house_price.engines.{name}")
    assert set(module.ENGINES) == {"pandas", "dask"}
    methods = {m for m, value in vars(module.Engine).items() if callable(value) and m[0] != "_"}
    interface = methods | set(module.Engine.__annotations__)
    assert interface, f"engines.{name}.Engine declares nothing"
    for engine, implementation in (("pandas", module.PandasEngine), ("dask", module.DaskEngine)):
        chosen = module.for_params(on_engine(engine))
        assert type(chosen) is implementation
        for member in interface:  # what the interface declares, each implementation has
            assert hasattr(chosen, member), f"{implementation.__name__} lacks {member}"
            if callable(getattr(module.Engine, member, None)):
                declared = inspect.signature(getattr(module.Engine, member))
                assert inspect.signature(getattr(implementation, member)) == declared


def test_no_stage_script_branches_on_the_engine() -> None:
    for script in sorted((REPO / "stages").glob("*.py")):
        tree = ast.parse(script.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                text = ast.unparse(node)
                assert "engine" not in text, f"{script.name}: {text}"
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "dask" not in node.module, f"{script.name} imports {node.module}"

"""params.yaml is typed: a value of the wrong type or out of range, an unknown or missing key,
or a file that is not a YAML mapping stops the first stage that runs with one line naming the
param, the value and what is allowed. Here the unit cases; the real pipeline's in
tests/integration/test_params_pipeline.py."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from house_price.core.errors import DataError
from house_price.core.params import Params, describe, load_params

SHIPPED = yaml.safe_load((REPO / "params.yaml").read_text())

# dotted param, bad value, how the message shows it, what the message says is allowed
BAD_VALUES = [
    ("dataset", "", '""', "a string matching ^[A-Za-z0-9][A-Za-z0-9_-]*$"),
    ("dataset", "../houses", '"../houses"', "a string matching ^[A-Za-z0-9][A-Za-z0-9_-]*$"),
    ("dataset", None, "null", "a string matching ^[A-Za-z0-9][A-Za-z0-9_-]*$"),
    ("synthetic.rows", 0, "0", "an integer >= 1"),
    ("synthetic.rows", 5000.0, "5000.0", "an integer >= 1"),
    ("synthetic.seed", -1, "-1", "an integer >= 0 and <= 4294967295"),
    ("synthetic.seed", 2**32, "4294967296", "an integer >= 0 and <= 4294967295"),
    ("synthetic.noise_sigma", -0.1, "-0.1", "a number >= 0 and <= 2"),
    ("synthetic.missing_rate", 1, "1", "a number >= 0 and < 1"),
    ("synthetic.duplicate_rate", -0.01, "-0.01", "a number >= 0 and < 1"),
    ("synthetic.messy_category_rate", "5%", '"5%"', "a number >= 0 and < 1"),
    ("synthetic.impossible_rate", True, "true", "a number >= 0 and < 1"),
    ("process.test_size", 0, "0", "a number > 0 and < 1"),
    ("process.test_size", 1.0, "1.0", "a number > 0 and < 1"),
    ("process.test_size", -0.2, "-0.2", "a number > 0 and < 1"),
    ("process.test_size", True, "true", "a number > 0 and < 1"),
    ("process.test_size", "0.2", '"0.2"', "a number > 0 and < 1"),
    ("process.test_size", None, "null", "a number > 0 and < 1"),
    ("process.seed", 4.2, "4.2", "an integer >= 0 and <= 4294967295"),
    ("features.reference_year", 1500, "1500", "an integer >= 1800 and <= 2200"),
    ("features.reference_year", "2025", '"2025"', "an integer >= 1800 and <= 2200"),
    ("train.seed", False, "false", "an integer >= 0 and <= 4294967295"),
    ("train.log_target", 1, "1", "true or false"),
    ("train.log_target", "yes", '"yes"', "true or false"),
    ("train.cv_folds", 1, "1", "an integer >= 2 and <= 20"),
    ("train.cv_folds", 5.0, "5.0", "an integer >= 2 and <= 20"),
    ("train.cv_max_rows", 0, "0", "an integer >= 1"),
    ("train.early_stopping_rounds", 0, "0", "an integer >= 1"),
    ("train.n_estimators", 0, "0", "an integer >= 1 and <= 100000"),
    ("train.n_estimators", 10**6, "1000000", "an integer >= 1 and <= 100000"),
    ("train.learning_rate", 0, "0", "a number > 0 and <= 1"),
    ("train.learning_rate", 1.5, "1.5", "a number > 0 and <= 1"),
    ("train.learning_rate", math.nan, "NaN", "a number > 0 and <= 1"),
    ("train.max_depth", -1, "-1", "an integer >= 1 and <= 30"),
    ("train.max_depth", 0, "0", "an integer >= 1 and <= 30"),
    ("train.max_depth", 31, "31", "an integer >= 1 and <= 30"),
    ("train.max_depth", 6.0, "6.0", "an integer >= 1 and <= 30"),
    ("train.max_depth", True, "true", "an integer >= 1 and <= 30"),
    ("train.max_depth", "6", '"6"', "an integer >= 1 and <= 30"),
    ("train.max_depth", None, "null", "an integer >= 1 and <= 30"),
    ("train.min_child_weight", -0.5, "-0.5", "a number >= 0"),
    ("train.subsample", 0, "0", "a number > 0 and <= 1"),
    ("train.colsample_bytree", 1.1, "1.1", "a number > 0 and <= 1"),
    ("train.reg_lambda", math.inf, "Infinity", "a number >= 0"),
    ("train.tree_method", "gpu_hist", '"gpu_hist"', "one of hist, approx, exact"),
    ("train.n_jobs", -1, "-1", "an integer >= 0 and <= 1024"),
    ("tune.trials", -1, "-1", "an integer >= 0 and <= 10000"),
    ("tune.seed", 1.5, "1.5", "an integer >= 0 and <= 4294967295"),
    ("train.gamma", -1, "-1", "a number >= 0"),
    ("train.gamma", None, "null", "a number >= 0"),
    ("train.reg_alpha", "0", '"0"', "a number >= 0"),
    ("train.max_bin", 1, "1", "an integer >= 2 and <= 65536"),
    ("train.max_leaves", -1, "-1", "an integer >= 0"),
    ("train.grow_policy", "best", '"best"', "one of depthwise, lossguide"),
    ("evaluate.min_r2", 1.5, "1.5", "a number <= 1, or null"),
    ("evaluate.metric", "mse", '"mse"', "one of rmse, mae, rmsle, r2"),
    ("evaluate.must_beat", "linear", '"linear"', "a list, each one of median, linear"),
    ("evaluate.max_rmsle_over_noise_floor", 0, "0", "a number > 0"),
    ("evaluate.plot_points", 0, "0", "an integer >= 1"),
    ("mlflow.experiment", "", '""', "a non-empty string"),
    ("mlflow.registered_model", 5, "5", "a name of letters, digits, _ . - where {dataset}"),
    ("mlflow.registered_model", "house {x}", '"house {x}"', "a name of letters, digits, _ ."),
    ("mlflow.min_improvement", 1, "1", "a number >= 0 and < 1"),
    ("mlflow.min_improvement", -0.1, "-0.1", "a number >= 0 and < 1"),
    ("mlflow.alias", None, "null", "a non-empty string"),
    (
        "train",
        5,
        "5",
        "a mapping of seed, log_target, cv_folds, cv_max_rows, early_stopping_rounds, ",
    ),
    (
        "evaluate",
        [],
        "[]",
        "a mapping of metric, must_beat, min_r2, max_rmsle_over_noise_floor, plot_points",
    ),
]


def with_change(dotted: str, value: Any = None, remove: bool = False) -> dict[str, Any]:
    params = copy.deepcopy(SHIPPED)
    *parents, key = dotted.split(".")
    node = params
    for parent in parents:
        node = node[parent]
    if remove:
        del node[key]
    else:
        node[key] = value
    return params


def load_error(tmp_path: Path, params: Any = None, text: str | None = None) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False) if text is None else text)
    with pytest.raises(DataError) as caught:
        load_params(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def test_shipped_params_load_unchanged() -> None:
    assert load_params(REPO / "params.yaml").model_dump(exclude_unset=True) == SHIPPED


def test_typed_params_dump_as_written() -> None:
    """What the run logs and metadata.json records is the file's text: an integer written for a
    number stays an integer, absent optional params stay absent, and XGBoost gets every `train`
    param but the procedure's."""
    params = load_params(REPO / "params.yaml")
    assert params.train.as_written() == SHIPPED["train"]
    assert type(params.train.min_child_weight) is int  # `min_child_weight: 1`
    procedure = {"seed", "log_target", "cv_folds", "cv_max_rows", "early_stopping_rounds"}
    assert params.train.xgboost_params() == {
        key: value for key, value in SHIPPED["train"].items() if key not in procedure
    }
    assert params.run_params(params.train) == {
        key: SHIPPED[key] for key in ("dataset", "process", "features", "train")
    }


def test_overridden_train_params_are_checked() -> None:
    train = load_params(REPO / "params.yaml").train
    tuned = train.overridden({"max_depth": 3, "learning_rate": 0.1})
    assert tuned.as_written() == SHIPPED["train"] | {"max_depth": 3, "learning_rate": 0.1}
    assert train.as_written() == SHIPPED["train"]  # unchanged
    with pytest.raises(ValueError, match="max_depth"):
        train.overridden({"max_depth": 0})


@pytest.mark.parametrize(
    ("dotted", "value", "shown", "allowed"), BAD_VALUES, ids=[f"{c[0]}={c[2]}" for c in BAD_VALUES]
)
def test_bad_value_names_param_value_and_range(
    tmp_path: Path, dotted: str, value: Any, shown: str, allowed: str
) -> None:
    message = load_error(tmp_path, with_change(dotted, value))
    assert message.startswith(f"{dotted} = {shown} is not allowed: {allowed}"), message


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("train.gamma", 0.5),
        ("train.reg_alpha", 1),  # an integer is a number
        ("train.max_bin", 64),
        ("train.max_leaves", 0),
        ("train.grow_policy", "lossguide"),
        ("train.min_child_weight", 0),
        ("process.test_size", 0.5),
        ("evaluate.min_r2", -3.0),
        ("features.reference_year", 2100),
        ("dataset", "my-data_2"),
    ],
)
def test_good_values_pass_as_given(tmp_path: Path, dotted: str, value: Any) -> None:
    path = tmp_path / "params.yaml"
    params = with_change(dotted, value)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    loaded = load_params(path)
    assert loaded.model_dump(exclude_unset=True) == params
    section, _, key = dotted.rpartition(".")
    got = getattr(getattr(loaded, section), key) if section else getattr(loaded, key)
    assert type(got) is type(value)


@pytest.mark.parametrize("section", ["synthetic", "process", "features", "train", "evaluate"])
def test_unknown_key_lists_the_sections_keys(tmp_path: Path, section: str) -> None:
    message = load_error(tmp_path, with_change(f"{section}.max_dept", 3))
    keys = ", ".join(SHIPPED[section])
    assert message.startswith(f"{section}.max_dept is not a known param ({section} takes {keys}")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, with_change("datset", "houses"))
    assert message == (
        "datset is not a known param (the top level takes dataset, engine, dask, synthetic, "
        "process, features, train, tune, evaluate, mlflow)"
    )


@pytest.mark.parametrize(
    ("dotted", "allowed"),
    [
        ("train.max_depth", "an integer >= 1 and <= 30"),
        ("mlflow.alias", "a non-empty string"),
        ("features.reference_year", "an integer >= 1800 and <= 2200"),
        ("process", "a mapping of test_size, seed"),
        ("dataset", "a string matching"),
    ],
)
def test_missing_key_is_named(tmp_path: Path, dotted: str, allowed: str) -> None:
    message = load_error(tmp_path, with_change(dotted, remove=True))
    assert message.startswith(f"{dotted} is missing: {allowed}"), message


def test_every_problem_on_one_line(tmp_path: Path) -> None:
    params = with_change("train.max_depth", 0)
    params["process"]["test_size"] = 2
    params["train"]["max_dept"] = 3
    message = load_error(tmp_path, params)
    assert message.startswith("process.test_size = 2 is not allowed: a number > 0 and < 1; ")
    assert "; train.max_depth = 0 is not allowed: an integer >= 1 and <= 30; " in message
    assert "; train.max_dept is not a known param (train takes seed, " in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "",
            "should be a mapping of dataset, engine, dask, synthetic, process, features, train, "
            "tune, evaluate, mlflow (got null)",
        ),
        ("- dataset\n", "should be a mapping of dataset, "),
        (
            "houses\n",
            "should be a mapping of dataset, engine, dask, synthetic, process, features, train, "
            'tune, evaluate, mlflow (got "houses")',
        ),
        ("train: {max_depth: 6\n", "not valid YAML (while parsing a flow mapping"),
        ("dataset: houses\n\tprocess: 1\n", "not valid YAML ("),
    ],
)
def test_not_a_yaml_mapping(tmp_path: Path, text: str, problem: str) -> None:
    assert load_error(tmp_path, text=text).startswith(problem)


def test_absent_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"params\.yaml: cannot be read \(\[Errno 2\] No such file"):
        load_params(tmp_path / "params.yaml")


def test_a_bad_list_item_is_named_by_its_index(tmp_path: Path) -> None:
    message = load_error(tmp_path, with_change("evaluate.must_beat", ["median", "ridge"]))
    assert message == 'evaluate.must_beat[1] = "ridge" is not allowed: one of median, linear'


def leaf_fields() -> dict[str, Any]:
    """dotted name -> pydantic field of every param (the sections opened)."""
    fields = {}
    for name, field in Params.model_fields.items():
        section = getattr(field.annotation, "model_fields", None)
        if section is None:
            fields[name] = field
        else:
            fields.update({f"{name}.{key}": child for key, child in section.items()})
    return fields


@pytest.mark.parametrize("dotted", list(leaf_fields()))
def test_every_param_is_typed_and_bounded(dotted: str) -> None:
    """Every param says what it allows: a choice, a boolean, a pattern, or a number with at
    least one bound (the shipped params.yaml names each required one)."""
    field = leaf_fields()[dotted]
    allowed = describe(field)
    assert re.match(
        r"(one of |a list, each one of |true or false$|a non-empty string$|a string matching "
        r"|a name of |an? .*[<>])",
        allowed,
    ), f"{dotted}: {allowed}"
    if field.is_required():
        section, _, key = dotted.rpartition(".")
        assert key in (SHIPPED[section] if section else SHIPPED), dotted


def test_a_repeated_key_is_refused(tmp_path: Path) -> None:
    """PyYAML keeps the last of two keys; DVC refuses the file: so do the stages."""
    text = (REPO / "params.yaml").read_text().replace("\nprocess:\n", "\nprocess:\n  seed: 1\n", 1)
    message = load_error(tmp_path, text=text)
    assert message.startswith("not valid YAML (")
    assert "repeated key 'seed' (first on line" in message


@pytest.mark.parametrize("word", ["no", "yes", "off", "on"])
def test_yaml_1_1_booleans_are_text_as_dvc_reads_them(tmp_path: Path, word: str) -> None:
    """DVC (YAML 1.2) records `log_target: no` as the text 'no': training with False instead
    would disagree with what `dvc exp show` reports."""
    text = (REPO / "params.yaml").read_text()
    assert "  log_target: true" in text
    message = load_error(tmp_path, text=text.replace("  log_target: true", f"  log_target: {word}"))
    assert message == f'train.log_target = "{word}" is not allowed: true or false'

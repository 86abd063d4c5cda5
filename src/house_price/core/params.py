"""params.yaml, typed: every param has a type and a range, checked before a stage does any work.

`load_params` returns the typed `Params` once the file fits it; otherwise a DataError with one
line naming each param that does not fit, the value given and what is allowed (the allowed text
is derived from the field constraints). Stages and library code take typed sections
(`params.train.max_depth`); where a plain dict is needed (MLflow's params, metadata.json,
XGBoost's keyword arguments) it is dumped from the model (`Train.as_written`,
`Train.xgboost_params`, `Params.run_params`), with the values the file gives: a `Number` param
written as an integer (`min_child_weight: 1`) stays that integer, so the run logs `1` as it
always did, not `1.0`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic.fields import FieldInfo
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from house_price.core.errors import DataError
from house_price.core.yamlfile import load_yaml


def _as_written(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A float param's value once it fits (`handler`: the float checks and bounds), as the file
    writes it: an integer stays an integer."""
    checked = handler(value)
    return value if type(value) is int else checked


# A float param whose value is echoed as written (logged to MLflow, recorded in metadata.json or
# the promotion report, named by the gate): `1` stays 1, not 1.0. Plain `float` params (the
# synthetic data's and the split's, only computed with) are turned into floats.
Number = Annotated[float, WrapValidator(_as_written)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy, scikit-learn and XGBoost all take it
Rate = Annotated[float, Field(ge=0, lt=1)]  # a fraction of the rows
Fraction = Annotated[float, Field(gt=0, lt=1)]  # a split: both sides keep rows
Share = Annotated[Number, Field(gt=0, le=1)]  # a sampling ratio
Name = Annotated[str, Field(min_length=1)]
# How `describe` words a numeric constraint.
BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", ">="), (at.Lt, "lt", "<"), (at.Le, "le", "<="))


class Section(BaseModel):
    # Strict: a bool or a string is not a number, and 2.0 is not an integer (ints are numbers).
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Synthetic(Section):
    rows: int = Field(ge=1)
    seed: Seed
    noise_sigma: float = Field(ge=0, le=2)  # sd of log price: 2 is already a factor of 7
    missing_rate: Rate
    duplicate_rate: Rate
    messy_category_rate: Rate
    impossible_rate: Rate


class Process(Section):
    test_size: Fraction
    seed: Seed


class Features(Section):
    reference_year: int = Field(ge=1800, le=2200)


class Procedure(Section):
    """The `train` params that configure the procedure (training.model): not XGBoost's."""

    seed: Seed
    log_target: bool
    cv_folds: int = Field(ge=2, le=20)  # k of the k-fold cross-validation choosing the trees
    # Larger train splits: one fold's held-out 1/k of the rows is validation enough (and k fits
    # would cost k times the time: 1,000,000 rows within the pipeline's 180 s target).
    cv_max_rows: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)


class XGBoost(Section):
    """The `train` params that go to XGBoost as they are."""

    n_estimators: int = Field(ge=1, le=100_000)
    learning_rate: Number = Field(gt=0, le=1)
    max_depth: int = Field(ge=1, le=30)
    min_child_weight: Number = Field(ge=0)
    subsample: Share
    colsample_bytree: Share
    reg_lambda: Number = Field(ge=0)
    tree_method: Literal["hist", "approx", "exact"]
    n_jobs: int = Field(ge=0, le=1024)  # 0: every core
    # optional (model.fit passes them on): absent means XGBoost's default; null is not a value
    max_bin: int = Field(default=None, ge=2, le=65_536)
    gamma: Number = Field(default=None, ge=0)
    reg_alpha: Number = Field(default=None, ge=0)
    max_leaves: int = Field(default=None, ge=0)  # 0: no limit
    grow_policy: Literal["depthwise", "lossguide"] = Field(default=None)


class Train(XGBoost, Procedure):  # fields in this order: the procedure's, then XGBoost's
    """The `train` params, as written or overridden by tune's best ones (`overridden`)."""

    def as_written(self) -> dict[str, Any]:
        """The params as params.yaml writes them (absent optional ones left out): what the
        model's MLflow run logs and metadata.json records."""
        return self.model_dump(exclude_none=True)

    def xgboost_params(self) -> dict[str, Any]:
        """XGBoost's keyword arguments: the `XGBoost` params that are set."""
        return self.model_dump(include=set(XGBoost.model_fields), exclude_none=True)

    def overridden(self, values: Mapping[str, Any]) -> Train:
        """These params with `values` in place of theirs (tune's best params, a trial's),
        checked as params.yaml's are."""
        return Train.model_validate(self.as_written() | dict(values))


class Tune(Section):
    trials: int = Field(ge=0, le=10_000)  # Optuna trials; 0: no tuning
    seed: Seed  # of the TPE sampler


class Evaluate(Section):
    metric: Literal["rmse", "mae", "rmsle", "r2"]  # what the gate and promotion compare
    must_beat: list[Literal["median", "linear"]]  # the baselines the gate requires beating
    min_r2: Number | None = Field(default=None, le=1)  # an optional absolute floor
    max_rmsle_over_noise_floor: Number = Field(gt=0)
    plot_points: int = Field(ge=1)


class Mlflow(Section):
    experiment: Name
    # `{dataset}` is replaced by the data set's name: each data set has its own champion
    registered_model: str = Field(
        pattern=r"^([A-Za-z0-9_.-]|\{dataset\})+$",
        description="a name of letters, digits, _ . - where {dataset} stands for the data set",
    )
    alias: Name
    min_improvement: Number = Field(ge=0, lt=1)  # relative margin over the champion


class Dask(Section):
    """The Dask engine's settings. The data, split and transformer do not depend on them;
    `sample_rows` sizes what is fitted on a sample, and on two or more workers the model can
    differ slightly (which worker holds which partition is the scheduler's choice)."""

    partition_rows: int = Field(ge=1_000)  # raw rows per partition when ingest reads a CSV
    workers: int = Field(ge=1, le=1024)  # LocalCluster worker processes
    threads_per_worker: int = Field(ge=1, le=256)
    worker_memory_mib: int = Field(ge=256)  # each LocalCluster worker's limit: spills above 60 %
    # Rows of the (hash-ordered, so random) train split that what needs one frame uses: tune,
    # the linear baseline, the plots' points and the drift reference.
    sample_rows: int = Field(ge=1_000)


class Params(Section):
    dataset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a profile's file stem
    engine: Literal["pandas", "dask"]  # pandas: one frame in memory; dask: partitions
    dask: Dask
    synthetic: Synthetic
    process: Process
    features: Features
    train: Train
    tune: Tune
    evaluate: Evaluate
    mlflow: Mlflow

    def run_params(self, fitted: Train) -> dict[str, Any]:
        """What a model's MLflow run logs: the data set, the process and features params, and
        `fitted`, the train params that fitted the model (tune's best ones in place)."""
        dumped = self.model_dump(include={"dataset", "process", "features"})
        return dumped | {"train": fitted.as_written()}


def load_params(path: str | Path = "params.yaml") -> Params:
    """The params in `path`, typed, once they fit `Params`.

    Raises DataError (one line: `<path>: <param> = <value> is not allowed: <allowed>`, joined by
    `; ` when several do not fit) for an unreadable file, invalid YAML or any param that does
    not fit."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = load_yaml(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())  # YAML's messages span lines
        raise DataError(f"{path}: not valid YAML ({problem})") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(error, Params) for error in exc.errors())
        raise DataError(f"{path}: {problems}") from None


def _problem(error: Any, model: type[BaseModel]) -> str:
    """One pydantic error as `<dotted param> = <value> is not allowed: <allowed>`."""
    if not error["loc"]:  # an empty file, a list, a scalar
        keys = ", ".join(model.model_fields)
        return f"should be a mapping of {keys} (got {_shown(error['input'])})"
    loc = error["loc"]
    if any(isinstance(part, int) for part in loc):  # an item of a list param: name the list
        index = next(i for i, part in enumerate(loc) if isinstance(part, int))
        names = ".".join(str(part) for part in loc[:index])
        field = leaf_field(loc[:index])
        item = FieldInfo.from_annotation(get_args(field.annotation)[0])
        return f"{names}[{loc[index]}] = {_shown(error['input'])} is not allowed: {describe(item)}"
    *parents, key = loc
    for name in parents:  # down to the section holding the param
        model = model.model_fields[name].annotation
    dotted = ".".join(loc)
    if error["type"] == "extra_forbidden":
        where = ".".join(parents) or "the top level"
        return f"{dotted} is not a known param ({where} takes {', '.join(model.model_fields)})"
    allowed = describe(model.model_fields[key])
    if error["type"] == "missing":
        return f"{dotted} is missing: {allowed}"
    return f"{dotted} = {_shown(error['input'])} is not allowed: {allowed}"


def leaf_field(path: tuple[str, ...]) -> FieldInfo:
    """The field of a dotted param path, e.g. ("evaluate", "must_beat")."""
    model: Any = Params
    for name in path[:-1]:
        model = model.model_fields[name].annotation
    return model.model_fields[path[-1]]


def describe(field: FieldInfo) -> str:
    """What a field allows, in words: `an integer >= 1 and <= 30`, `one of hist, approx`."""
    kind = field.annotation
    if field.description:
        return field.description
    if get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind):
        (inner,) = (arg for arg in get_args(kind) if arg is not type(None))
        if get_origin(inner) is Annotated:  # a Number: its validator says nothing to describe
            inner = get_args(inner)[0]
        return describe(FieldInfo.merge_field_infos(field, annotation=inner)) + ", or null"
    if get_origin(kind) is list:
        (item,) = get_args(kind)
        return "a list, each " + describe(FieldInfo.from_annotation(item))
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return f"a mapping of {', '.join(kind.model_fields)}"
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(value) for value in get_args(kind))
    if kind is bool:
        return "true or false"
    words = {int: "an integer", float: "a number", str: "a string"}[kind]
    bounds = []
    for item in field.metadata:
        for constraint, name, sign in BOUNDS:
            if isinstance(item, constraint):
                bounds.append(f"{sign} {getattr(item, name)}")
        if isinstance(item, at.MinLen) and item.min_length == 1:
            words = "a non-empty string"
        if getattr(item, "pattern", None):
            bounds.append(f"matching {item.pattern}")
    return " ".join([words, " and ".join(bounds)]).strip()


def _shown(value: Any) -> str:
    """A value as YAML spells it (null, true, 0.5, "text"), cut to 60 characters."""
    shown = json.dumps(value, default=str)
    return shown if len(shown) <= 60 else shown[:57] + "..."

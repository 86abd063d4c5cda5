"""The Dask engine: each stage's work done partition by partition on a Dask cluster, with the
pandas engine's pure functions (cleaning, split keys, feature aggregates, error sums), so the two
engines follow one rule set.

A table is a directory of Parquet partitions, `part-00000.parquet`, ... (`io.iter_partitions`
reads it in order). Each partition's work is one task: memory holds a few partitions per worker,
whatever the size of the data. Workers read and write the workspace's paths (absolute), so a
remote cluster's workers need them on a shared filesystem.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from house_price.core import prediction, split
from house_price.core.errors import DataError
from house_price.core.io import iter_raw_csv, raw_fields
from house_price.core.tables import partition_files, table_rows
from house_price.data import cleaning
from house_price.data.synthetic import (
    Dirt,
    block_rows,
    generate_block,
    noise_floor,
    raw_block_rows,
)
from house_price.features import Aggregates, aggregate, median_of_counts, merge_aggregates
from house_price.schema import Profile
from house_price.training import model

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client

    from house_price.evaluation.gate import Baselines
    from house_price.features import FeatureTransformer

LINE = "__raw_line__"  # the raw partitions' index: each row's line in the source CSV


def partition_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _compute(tasks: Sequence[Any]) -> list[Any]:
    import dask

    return list(dask.compute(*tasks))


def _delayed(function: Callable[..., Any], nout: int | None = None) -> Callable[..., Any]:
    from dask import delayed

    return delayed(function, pure=True, nout=nout)


def write_partition(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    frame.to_parquet(path, index=index, engine="pyarrow")


def read_raw_partition(path: Path, name: str | None = None) -> pd.DataFrame:
    """A raw partition: every field a string, indexed by the row's source line. DataError
    (naming the file: `name`, else its path) for one that is not a readable Parquet file."""
    import pyarrow as pa

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, pa.ArrowException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{name or path}: not a readable Parquet partition ({first})") from None


# --- ingest ------------------------------------------------------------------------------------


def _synthetic_partition(
    block: int, rows: int, first_line: int, settings: dict[str, Any], year: int, path: Path
) -> tuple[int, float]:
    data = generate_block(
        block,
        rows,
        int(settings["seed"]),
        float(settings["noise_sigma"]),
        year,
        Dirt.from_params(settings),
    )
    fields = raw_fields(data.frame, first_line)
    fields.index.name = LINE
    write_partition(fields, path, index=True)
    return rows, data.noise_floor_rmsle


def ingest_synthetic(directory: Path, settings: dict[str, Any], reference_year: int) -> float:
    """Generate the `synthetic` params' data set into `directory`, one partition per block
    (synthetic.BLOCK_ROWS houses), the blocks drawn in parallel on the cluster; the rows are
    numbered by the lines they have in the pandas engine's data.csv. Returns the noise floor."""
    sizes = block_rows(int(settings["rows"]))
    raw_sizes = raw_block_rows(int(settings["rows"]), Dirt.from_params(settings))
    firsts = np.concatenate([[2], 2 + np.cumsum(raw_sizes)[:-1]])  # line 1: the header
    task = _delayed(_synthetic_partition)
    directory = directory.absolute()  # workers have their own working directory
    blocks = _compute(
        [
            task(
                index, size, int(first), settings, reference_year, directory / partition_name(index)
            )
            for index, (size, first) in enumerate(zip(sizes, firsts, strict=True))
        ]
    )
    return noise_floor(blocks)


def ingest_csv(source: Path, directory: Path, rows: int, profile: Profile) -> int:
    """Copy a CSV source into `directory` as raw partitions of `rows` rows, read in order in
    this process (memory holds one). The header is checked against the profile first; a
    column that is repeated but not declared is kept once (its name is all the report needs).
    Returns the partition count. DataError as `read_raw_csv` raises it."""
    count = 0
    for index, chunk in enumerate(iter_raw_csv(source, rows)):
        if index == 0:
            cleaning.check_columns(chunk, profile, str(source))
        chunk = chunk.loc[:, ~chunk.columns.duplicated()]
        chunk.index.name = LINE
        write_partition(chunk, directory / partition_name(index), index=True)
        count += 1
    return count


# --- process -----------------------------------------------------------------------------------


def _clean_partition(
    path: Path, name: str, profile: Profile, source: str, meta: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any] | None, str | None]:
    """(rows, partial report, None), or (no rows, None, the DataError's message): the caller
    raises the first partition's error, so which one it names does not depend on timing."""
    try:
        return (*cleaning.clean_rows(read_raw_partition(path, name), profile, source), None)
    except DataError as error:
        return meta, None, str(error)


def _first_occurrences(frame: pd.DataFrame, columns: list[str], seed: int) -> pd.DataFrame:
    """One bucket of the duplicate shuffle: each row's first occurrence by line, as the pandas
    engine's `duplicated()` keeps it, the rows then in split-key order (whichever worker sent
    them): a partition's head is a random sample of it, even when the file is sorted."""
    frame = frame.sort_index(kind="stable")
    frame = frame[~frame.duplicated(subset=columns)]
    return frame.iloc[np.argsort(split.split_keys(frame.index.to_numpy(), seed))]


def _split_key_counts(path: Path, seed: int) -> np.ndarray:
    keys = split.split_keys(pd.read_parquet(path).index.to_numpy(), seed)
    return split.key_counts(keys)


def _split_keys_in_bin(path: Path, seed: int, key_bin: int) -> np.ndarray:
    keys = split.split_keys(pd.read_parquet(path).index.to_numpy(), seed)
    return split.keys_in_bin(keys, key_bin)


def _write_split(path: Path, seed: int, threshold: np.uint64, train: Path, test: Path) -> None:
    """One bucket's train and test rows, each written unless it has none (a split's
    partitions then all hold rows, as every stage after expects)."""
    frame = pd.read_parquet(path)
    is_test = split.split_keys(frame.index.to_numpy(), seed) <= threshold
    for rows, target in ((frame[~is_test], train), (frame[is_test], test)):
        if len(rows):
            write_partition(rows.reset_index(drop=True), target)


def process(
    raw: Path,
    train: Path,
    test: Path,
    scratch: Path,
    profile: Profile,
    test_size: float,
    seed: int,
    source: str,
) -> dict[str, Any]:
    """Clean the raw partitions in `raw` (`cleaning.clean_rows` each), drop exact duplicates
    across partitions (a shuffle by the row's values: copies meet in one bucket, where the
    first by line stays), then split by `split.split_keys`, exactly as `split.split`
    does on one frame: the test split is the rows with the `ceil(test_size * rows)` smallest
    keys, found from a histogram of the keys and the keys of one bin. Writes one train and one
    test partition per bucket (`scratch` holds the buckets meanwhile). Returns the cleaning
    report, as `cleaning.clean` makes it. DataError for data that cannot fit (on the first
    partition to find it: the message names the line)."""
    import dask.dataframe as dd

    files = partition_files(raw)
    columns = [column.name for column in profile.columns]
    meta = cleaning.clean_rows(read_raw_partition(files[0]).head(0), profile, source)[0]
    task = _delayed(_clean_partition, nout=3)
    cleaned = [task(file.absolute(), str(file), profile, source, meta) for file in files]
    rows = dd.from_delayed([part[0] for part in cleaned], meta=meta, verify_meta=False)
    buckets = rows.shuffle(on=columns, npartitions=len(files)).map_partitions(
        _first_occurrences, columns, seed, meta=meta
    )
    write = buckets.to_parquet(
        scratch.absolute(), write_index=True, compute=False, name_function=partition_name
    )
    with warnings.catch_warnings():
        # One compute for the reports (delayed) and the buckets (an expression): Dask warns that
        # it then materialises the expression's graph, the price of cleaning each partition once.
        warnings.filterwarnings("ignore", "Computing mixed collections", UserWarning)
        errors, reports, _ = _compute(
            [[part[2] for part in cleaned], [part[1] for part in cleaned], write]
        )
    for error in errors:  # the first partition's, as one frame would have it (in line order)
        if error:
            raise DataError(error)
    report = cleaning.merge_reports(reports)
    checked = cleaning.check_report(report, source) | {"rows_kept": report["rows_kept"]}
    parts = partition_files(scratch.absolute())
    kept = table_rows(scratch)
    test_rows = split.check_split_rows(kept, test_size, source)
    counts = sum(_compute([_delayed(_split_key_counts)(part, seed) for part in parts]))
    key_bin, rank = split.threshold_bin(counts, test_rows)
    in_bin = _compute([_delayed(_split_keys_in_bin)(part, seed, key_bin) for part in parts])
    threshold = split.threshold_key(np.concatenate(in_bin), rank)
    task = _delayed(_write_split)
    _compute(
        [
            task(part, seed, threshold, train.absolute() / name, test.absolute() / name)
            for part, name in zip(parts, map(partition_name, range(len(parts))), strict=True)
        ]
    )
    return cleaning.finish_report(checked, report["rows_kept"] - kept)


# --- featurize, evaluate -----------------------------------------------------------------------


def _aggregate_partition(path: Path, profile: Profile) -> Aggregates:
    return aggregate(pd.read_parquet(path), profile)


def train_aggregates(train: Path, profile: Profile) -> Aggregates:
    """The train split's `Aggregates`, summed over its partitions."""
    task = _delayed(_aggregate_partition)
    parts = partition_files(train.absolute())
    return merge_aggregates(_compute([task(part, profile) for part in parts]))


def _target_counts(path: Path, target: str) -> pd.Series:
    return pd.read_parquet(path, columns=[target])[target].value_counts()


def median_target(train: Path, target: str) -> float:
    """The exact median of the train split's target, from its value counts per partition."""
    task = _delayed(_target_counts)
    counts = _compute([task(part, target) for part in partition_files(train.absolute())])
    return median_of_counts(pd.concat(counts).groupby(level=0).sum())


@dataclass(frozen=True)
class Scorer:
    """What scoring a test partition needs: the fitted transformer and model, the baselines,
    the target column and the model's target scale."""

    transformer: FeatureTransformer
    booster: xgb.Booster
    baselines: Baselines
    target: str
    scale: prediction.TargetScale


def _score_partition(path: Path, scorer: Scorer, predictions: Path) -> dict[str, dict[str, float]]:
    rows = pd.read_parquet(path)
    features = scorer.transformer.transform(rows)
    actual = rows[scorer.target].to_numpy(float)
    predicted = prediction.predict(scorer.booster, features, scorer.scale)
    write_partition(pd.DataFrame({"prediction": predicted}), predictions)
    scored = {"model": predicted} | scorer.baselines.predict(features)
    return {name: model.error_sums(actual, prices) for name, prices in scored.items()}


def score(
    client: Client, test: Path, scorer: Scorer, predictions: Path
) -> dict[str, dict[str, float]]:
    """Predict every test partition (one predictions partition each, in `predictions`) and
    score the model and the baselines: {"model" | baseline name: `model.metrics_from_sums`}."""
    [shared] = client.scatter([scorer], broadcast=True)
    task = _delayed(_score_partition)
    sums = _compute(
        [
            task(part, shared, predictions.absolute() / partition_name(index))
            for index, part in enumerate(partition_files(test.absolute()))
        ]
    )
    return {
        name: model.metrics_from_sums(reduce(model.merge_error_sums, [s[name] for s in sums]))
        for name in sums[0]
    }


# --- train -------------------------------------------------------------------------------------

LABEL, FOLD = "__label__", "__fold__"  # the model table's target (fit scale) and fold columns


def _model_table(
    frame: pd.DataFrame,
    transformer: FeatureTransformer,
    target: str,
    log_target: bool,
    folds: int,
    seed: int,
) -> pd.DataFrame:
    names = [str(name) for name in transformer.get_feature_names_out()]
    # float32: what XGBoost turns every input into anyway (the same rounding), at half the memory
    # of the partitions it holds while fitting.
    features = transformer.transform(frame).astype(np.float32)
    table = pd.DataFrame(features, columns=names, index=frame.index)
    scale = transformer.target_scale(log_target)
    table[LABEL] = scale.to_fit(frame[target].to_numpy(float), features)
    table[FOLD] = model.fold_ids(frame, folds, seed)
    return table


def fit(
    client: Client,
    train: Path,
    transformer: FeatureTransformer,
    target: str,
    params: dict[str, Any],
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """`model.fit` on the cluster, with `xgboost.dask` (DaskXGBRegressor: a DaskQuantileDMatrix
    per fit, the `train` params' hyperparameters, early stopping): each of the `cv_folds` folds
    (`model.fold_ids`; only the first above `cv_max_rows` rows) fits on the others and stops
    early on itself, then the final model fits `model.tree_count` trees on every row. XGBoost
    uses each worker's threads (`n_jobs` is the pandas engine's). Returns the booster and its
    figures."""
    import dask.dataframe as dd
    import xgboost.dask as dxgb
    from xgboost.collective import Config

    # XGBoost's tracker listens where the scheduler does (loopback for a LocalCluster), not on
    # whatever address it would pick for this machine.
    coll_cfg = Config(tracker_host_ip=urlparse(client.scheduler.address).hostname)
    seed, folds = int(params["seed"]), int(params["cv_folds"])
    frame = dd.read_parquet(str(train.absolute()))
    table = frame.map_partitions(
        _model_table, transformer, target, bool(params["log_target"]), folds, seed
    )
    names = [name for name in table.columns if name not in (LABEL, FOLD)]
    sizes = table[FOLD].value_counts().compute().reindex(range(folds), fill_value=0)
    rows = int(sizes.sum())
    if sizes.min() < 2:  # early stopping needs a held-out part of more than one row
        raise DataError(
            f"train.cv_folds = {folds}: a fold of the {rows} train rows holds "
            f"{int(sizes.min())} (at least 2 each are needed): lower cv_folds"
        )
    chosen = range(folds)
    if rows > int(params["cv_max_rows"]):
        chosen = range(1)
        progress(f"{rows} rows > cv_max_rows: the first fold only")
    hyper = {key: value for key, value in model.xgboost_params(params).items() if key != "n_jobs"}
    hyper["verbosity"] = 0  # each worker would print its rank in the fit's communicator
    validation = model.CrossValidation([], [])
    for fold in chosen:
        fitted, held_out = table[table[FOLD] != fold], table[table[FOLD] == fold]
        regressor = dxgb.DaskXGBRegressor(
            **hyper,
            random_state=seed,
            early_stopping_rounds=int(params["early_stopping_rounds"]),
            eval_metric="rmse",
            coll_cfg=coll_cfg,
        )
        regressor.client = client
        regressor.fit(
            fitted[names],
            fitted[LABEL],
            eval_set=[(held_out[names], held_out[LABEL])],
            verbose=False,
        )
        validation.fold_trees.append(int(regressor.best_iteration) + 1)
        validation.fold_rmse.append(float(regressor.best_score))
        progress(
            f"fold {fold + 1}/{folds}: {validation.fold_trees[-1]} trees, "
            f"rmse {validation.fold_rmse[-1]:.4f}"
        )
    trees = model.tree_count(validation.fold_trees, folds)
    final = dxgb.DaskXGBRegressor(
        **{**hyper, "n_estimators": trees}, random_state=seed, coll_cfg=coll_cfg
    )
    final.client = client
    final.fit(table[names], table[LABEL], verbose=False)
    return final.get_booster(), model.training_figures(validation, trees, folds, rows)

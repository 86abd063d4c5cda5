"""train's engines: fit the XGBoost regressor on the transformed train split, its trees chosen
by k-fold cross-validation (training.model).

The pandas engine fits on the split as one matrix (`model.fit`). The Dask engine fits with
`xgboost.dask` on the cluster, its folds from a seeded hash of each row (`model.fold_ids`: the
same on any partitioning), and records the cluster's size among the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from house_price.core.errors import DataError
from house_price.core.params import Params, Train
from house_price.core.tables import read_table
from house_price.engines import cluster
from house_price.training import model

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client

    from house_price.features import FeatureTransformer

Progress = Callable[[str], None]


class Engine(Protocol):
    def fit(
        self,
        train: Path,
        transformer: FeatureTransformer,
        target: str,
        settings: Train,
        progress: Progress,
    ) -> tuple[xgb.Booster, dict[str, Any]]:
        """The booster fitted with `settings` on the train split at `train`, and its figures
        (`model.training_figures`); one short `progress` line per fold."""
        ...


class PandasEngine:
    def __init__(self, params: Params) -> None:
        pass

    def fit(
        self,
        train: Path,
        transformer: FeatureTransformer,
        target: str,
        settings: Train,
        progress: Progress,
    ) -> tuple[xgb.Booster, dict[str, Any]]:
        rows = read_table(train)
        features = transformer.transform(rows)
        scale = transformer.target_scale(settings.log_target)
        fit_target = scale.to_fit(rows[target].to_numpy(float), features)
        return model.fit(features, fit_target, settings, progress)


class DaskEngine:
    def __init__(self, params: Params) -> None:
        self.settings = params.dask

    def fit(
        self,
        train: Path,
        transformer: FeatureTransformer,
        target: str,
        settings: Train,
        progress: Progress,
    ) -> tuple[xgb.Booster, dict[str, Any]]:
        with cluster.connect(self.settings) as client:
            booster, figures = fit(client, train, transformer, target, settings, progress)
            figures["cluster"] = cluster.cluster_size(client)
        return booster, figures


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)


# --- the Dask engine's work ----------------------------------------------------------------------

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
    params: Train,
    progress: Progress = lambda line: None,
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
    seed, folds = params.seed, params.cv_folds
    frame = dd.read_parquet(str(train.absolute()))
    table = frame.map_partitions(_model_table, transformer, target, params.log_target, folds, seed)
    names = [name for name in table.columns if name not in (LABEL, FOLD)]
    sizes = table[FOLD].value_counts().compute().reindex(range(folds), fill_value=0)
    rows = int(sizes.sum())
    if sizes.min() < 2:  # early stopping needs a held-out part of more than one row
        raise DataError(
            f"train.cv_folds = {folds}: a fold of the {rows} train rows holds "
            f"{int(sizes.min())} (at least 2 each are needed): lower cv_folds"
        )
    chosen = range(folds)
    if rows > params.cv_max_rows:
        chosen = range(1)
        progress(f"{rows} rows > cv_max_rows: the first fold only")
    hyper = {key: value for key, value in params.xgboost_params().items() if key != "n_jobs"}
    hyper["verbosity"] = 0  # each worker would print its rank in the fit's communicator
    validation = model.CrossValidation([], [])
    for fold in chosen:
        fitted, held_out = table[table[FOLD] != fold], table[table[FOLD] == fold]
        regressor = dxgb.DaskXGBRegressor(
            **hyper,
            random_state=seed,
            early_stopping_rounds=params.early_stopping_rounds,
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

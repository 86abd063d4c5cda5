"""Hyperparameter tuning: Optuna's seeded TPE sampler over XGBoost's main params, each trial
scored by k-fold cross-validation on the train split only (`model.cross_validate`), so the
test split never takes part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from house_price.core.params import Train
from house_price.training import model

TrialReport = Callable[[int, dict[str, Any], model.CrossValidation], None]


def suggest(trial: Any) -> dict[str, Any]:
    """One trial's params (an `optuna.Trial`): the search space. Ranges are the usual ones for
    gradient-boosted trees (e.g. XGBoost's parameter docs, "Notes on parameter tuning");
    rates and regularisation on a log scale. The number of trees is not searched: each trial's
    cross-validation picks it by early stopping."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 10),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 10.0, log=True),
    }


def tune(
    features: np.ndarray,
    fit_target: np.ndarray,
    train_params: Train,
    trials: int,
    seed: int,
    report: TrialReport = lambda number, chosen, validation: None,
) -> tuple[dict[str, Any], float]:
    """(best params, their cross-validated RMSE on the fit scale) after `trials` sequential
    trials of a TPE sampler seeded with `seed`: the same inputs give the same result.
    `features`: shape (n, features); `fit_target`: the prices on the model's fit scale
    (prediction.TargetScale.to_fit), shape (n,); `train_params`: the
    `train` params each trial's suggestions override. `report` is called after each trial
    with its number (from 0), params and cross-validation."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: Any) -> float:
        chosen = suggest(trial)
        validation = model.cross_validate(features, fit_target, train_params.overridden(chosen))
        report(trial.number, chosen, validation)
        return validation.rmse

    study.optimize(objective, n_trials=trials)
    return dict(study.best_params), float(study.best_value)

"""The regressor (deterministic fit, metrics, quality gate) and the atomic writes every stage
uses for its outputs."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from house_price.core.errors import DataError
from house_price.core.io import atomic_dir, atomic_path, write_csv, write_json
from house_price.core.params import Evaluate, Train
from house_price.core.prediction import TargetScale, predict
from house_price.core.tables import write_table
from house_price.evaluation.gate import fit_baselines, gate_failures, plot_rows
from house_price.training.model import (
    feature_importance,
    fit,
    fold_splits,
    regression_metrics,
    tree_count,
)
from house_price.training.tuning import tune

PARAMS = Train.model_validate(
    {
        "seed": 42,
        "log_target": True,
        "cv_folds": 4,
        "cv_max_rows": 100_000,
        "early_stopping_rounds": 20,
        "n_estimators": 300,
        "learning_rate": 0.1,
        "max_depth": 4,
        "min_child_weight": 1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "tree_method": "hist",
        "n_jobs": 1,  # 2,000 rows: threads only wait for each other, more so on a busy machine
    }
)
LOG = TargetScale(log=True)  # log1p(price): what PARAMS' log_target fits


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (2000, 4))
    features[:, 3] = 0.5  # a constant column: never split on
    price = np.exp(12 + features[:, 0] + 0.5 * features[:, 1] + rng.normal(0, 0.05, 2000))
    return features, price


def test_fit_is_deterministic(data) -> None:
    features, price = data
    first, figures = fit(features, LOG.to_fit(price, features), PARAMS)
    second, again = fit(features, LOG.to_fit(price, features), PARAMS)
    assert first.save_raw("ubj") == second.save_raw("ubj")
    assert figures == again
    np.testing.assert_array_equal(predict(first, features, LOG), predict(second, features, LOG))
    other, _ = fit(features, LOG.to_fit(price, features), PARAMS.overridden({"seed": 7}))
    assert other.save_raw("ubj") != first.save_raw("ubj"), "the seed is used"


def test_fit_picks_the_trees_by_cross_validation_and_learns(data) -> None:
    features, price = data
    lines: list[str] = []
    booster, figures = fit(features, LOG.to_fit(price, features), PARAMS, progress=lines.append)
    assert figures["train_rows"] == 2000  # the final model sees every row
    assert figures["cv_folds"] == 4
    assert [line.split(":")[0] for line in lines] == [f"fold {i}/4" for i in range(1, 5)]
    assert figures["trees"] == tree_count([int(line.split()[2]) for line in lines], 4)
    assert 1 < figures["trees"] < PARAMS.n_estimators
    assert booster.num_boosted_rounds() == figures["trees"]
    assert figures["cv_rmse_fit_scale"] < 0.1  # log scale: noise is 0.05
    scores = regression_metrics(price, predict(booster, features, LOG))
    assert scores["r2"] > 0.95
    assert scores["rmsle"] < 0.1


def test_above_cv_max_rows_only_the_first_fold_is_fitted(data) -> None:
    features, price = data
    lines: list[str] = []
    booster, figures = fit(
        features,
        LOG.to_fit(price, features),
        PARAMS.overridden({"cv_max_rows": 1999}),
        lines.append,
    )
    assert lines[0] == "2000 rows > cv_max_rows: the first fold only"
    assert [line.split(":")[0] for line in lines[1:]] == ["fold 1/4"]
    full: list[str] = []
    fit(features, LOG.to_fit(price, features), PARAMS, full.append)
    assert lines[1] == full[0]  # the same first fold, on 2 threads instead of 1
    assert figures["trees"] == tree_count([int(lines[1].split()[2])], 4)
    assert booster.num_boosted_rounds() == figures["trees"]
    assert figures["train_rows"] == 2000


def test_folds_hold_out_every_row_once() -> None:
    splits = fold_splits(103, 5, seed=1)
    held_out = np.concatenate([rows for _, rows in splits])
    assert sorted(held_out) == list(range(103))
    for fit_rows, rows in splits:
        assert set(fit_rows).isdisjoint(rows)
        assert len(fit_rows) + len(rows) == 103
    again = fold_splits(103, 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))


def test_too_few_rows_for_the_folds_is_one_line() -> None:
    with pytest.raises(DataError, match=r"train.cv_folds = 5 needs at least 10 train rows, got 9"):
        fold_splits(9, 5, seed=0)


def test_tree_count_scales_the_fold_mean_to_all_rows() -> None:
    assert tree_count([100, 200, 300, 400, 500], 5) == 375  # 300 * 5 / 4
    assert tree_count([1, 1], 2) == 2
    assert tree_count([1], 20) == 1


def test_log_target_is_inverted_on_predict(data) -> None:
    features, price = data
    log_booster, _ = fit(features, LOG.to_fit(price, features), PARAMS)
    raw = log_booster.inplace_predict(features)
    np.testing.assert_allclose(
        predict(log_booster, features, LOG),
        np.expm1(raw.astype(np.float64)).astype(np.float32),
        rtol=0,
    )
    identity = TargetScale(log=False)
    plain, _ = fit(
        features, identity.to_fit(price, features), PARAMS.overridden({"log_target": False})
    )
    assert np.median(predict(plain, features, identity)) == pytest.approx(np.median(price), rel=0.1)


@pytest.mark.parametrize("log", [True, False])
def test_a_price_per_unit_of_size_round_trips_exactly(log) -> None:
    rng = np.random.default_rng(5)
    features = np.c_[rng.uniform(0, 1, 50), rng.uniform(40.3, 400.7, 50)]
    price = rng.uniform(1e4, 1e7, 50)
    scale = TargetScale(log=log, per_column=1)
    fitted = scale.to_fit(price, features)
    assert fitted.dtype == np.float32
    per_unit = price / features[:, 1].astype(np.float32)
    np.testing.assert_allclose(fitted, np.log1p(per_unit) if log else per_unit, rtol=1e-6)
    np.testing.assert_allclose(scale.to_prices(fitted, features), price, rtol=1e-6)
    # The same rows as float32 (the Dask engine's matrix) give the same bits.
    assert np.array_equal(scale.to_fit(price, features.astype(np.float32)), fitted)


def test_a_price_per_unit_of_size_extrapolates_to_larger_houses() -> None:
    """Prices proportional to size, sizes 50 to 150 in training: per unit of size, a house of
    300 gets twice the price of one of 150; on the price itself, a tree cannot go past the most
    expensive house it saw."""
    rng = np.random.default_rng(6)
    quality = rng.uniform(0, 1, 3000)
    size = rng.uniform(50, 150, 3000)
    features = np.c_[quality, size]
    price = size * np.exp(8 + quality + rng.normal(0, 0.02, 3000))
    per_size = TargetScale(log=True, per_column=1)
    booster, _ = fit(features, per_size.to_fit(price, features), PARAMS)
    plain, _ = fit(features, LOG.to_fit(price, features), PARAMS)
    houses = np.array([[0.5, 150.0], [0.5, 300.0]])
    small, large = predict(booster, houses, per_size)
    assert large == pytest.approx(2 * small, rel=1e-6)
    assert large == pytest.approx(300 * math.exp(8.5), rel=0.05)
    assert predict(plain, houses, LOG)[1] < price.max() * 1.01


def test_a_named_size_column_must_be_in_the_matrix() -> None:
    assert TargetScale.of(True, "sqft", ["rooms", "sqft"]) == TargetScale(True, 1)
    assert TargetScale.of(False, None, ["rooms"]) == TargetScale(False, None)
    with pytest.raises(
        ValueError, match=r"target\.per: 'area' is not a column of the model matrix"
    ):
        TargetScale.of(True, "area", ["rooms", "sqft"])


def test_metrics_on_a_hand_example() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.0, 2.0, 3.0, 5.0])
    scores = regression_metrics(actual, predicted)
    assert scores["rmse"] == pytest.approx(0.5)  # sqrt(1 / 4)
    assert scores["mae"] == pytest.approx(0.25)
    assert scores["r2"] == pytest.approx(0.8)  # 1 - 1 / 5
    assert scores["rmsle"] == pytest.approx(math.sqrt(math.log(6 / 5) ** 2 / 4))
    perfect = regression_metrics(actual, actual)
    assert perfect == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "rmsle": 0.0}


def test_rmsle_scores_a_negative_prediction_as_zero() -> None:
    scores = regression_metrics(np.array([100.0, 100.0]), np.array([-50.0, 100.0]))
    assert scores["rmsle"] == pytest.approx(math.sqrt(math.log(101) ** 2 / 2))
    assert scores["mae"] == pytest.approx(75.0)  # the other metrics see the raw prediction


def gate_params(**values: object) -> Evaluate:
    """The `evaluate` params of a gate (plot_points: what the gate does not read)."""
    return Evaluate.model_validate({"plot_points": 2000, **values})


def test_quality_gate_absolute_floors() -> None:
    gate = gate_params(metric="rmse", must_beat=[], min_r2=0.8, max_rmsle_over_noise_floor=1.1)
    assert gate_failures({"r2": 0.85, "rmse": 1.0}, {}, gate) == []
    assert gate_failures({"r2": 0.85, "rmse": 1.0, "rmsle_over_noise_floor": 1.05}, {}, gate) == []
    low = gate_failures({"r2": 0.7512345, "rmse": 1.0}, {}, gate)
    assert low == ["r2 0.7512 < min_r2 0.8"]
    both = gate_failures({"r2": 0.5, "rmse": 1.0, "rmsle_over_noise_floor": 1.2}, {}, gate)
    assert len(both) == 2
    assert "rmsle/noise floor 1.200 > max_rmsle_over_noise_floor 1.1" in both[1]
    assert (
        gate_failures({"r2": 0.1, "rmse": 1.0}, {}, gate.model_copy(update={"min_r2": None})) == []
    )


BASELINES = {"median": {"rmse": 100.0, "r2": 0.0}, "linear": {"rmse": 50.0, "r2": 0.6}}


@pytest.mark.parametrize(
    ("metric", "figures", "beaten"),
    [
        ("rmse", {"rmse": 49.0, "r2": 0.7}, []),
        ("rmse", {"rmse": 50.0, "r2": 0.7}, ["linear"]),  # a tie does not beat
        ("rmse", {"rmse": 120.0, "r2": -0.1}, ["median", "linear"]),
        ("r2", {"rmse": 49.0, "r2": 0.6}, ["linear"]),
        ("r2", {"rmse": 49.0, "r2": 0.61}, []),
    ],
)
def test_quality_gate_is_relative_to_the_baselines(metric, figures, beaten) -> None:
    gate = gate_params(
        metric=metric, must_beat=["median", "linear"], min_r2=None, max_rmsle_over_noise_floor=1.1
    )
    failures = gate_failures(figures, BASELINES, gate)
    assert [failure.split(" the ")[1].split(" ")[0] for failure in failures] == beaten
    for failure in failures:
        assert failure.startswith(f"{metric} ")
        assert "does not beat the" in failure
    # Only the baselines named in must_beat count.
    only_median = gate_failures(
        figures, BASELINES, gate.model_copy(update={"must_beat": ["median"]})
    )
    assert only_median == [failure for failure in failures if "median" in failure]


def test_baselines_are_the_median_and_a_linear_model() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, 3))
    price = np.exp(12 + features[:, 0].clip(-3, 3) * 0.3 + rng.normal(0, 0.05, 400))
    features[rng.random(features.shape) < 0.05] = np.nan  # the linear model must cope
    train, test = slice(0, 300), slice(300, 400)
    baselines = fit_baselines(features[train], price[train], True)
    predicted = baselines.predict(features[test])
    assert set(predicted) == {"median", "linear"}
    assert np.all(predicted["median"] == np.median(price[train]))
    assert predicted["linear"].shape == (100,)
    assert np.all(np.isfinite(predicted["linear"]))
    linear = regression_metrics(price[test], predicted["linear"])
    median = regression_metrics(price[test], predicted["median"])
    assert linear["rmse"] < median["rmse"]  # it uses the features
    again = fit_baselines(features[train], price[train], True).predict(features[test])
    assert np.array_equal(again["linear"], predicted["linear"])  # deterministic
    # Extrapolation is clipped to the train range: no overflow to inf.
    far = np.full((2, 3), 1e6)
    clipped = baselines.predict(far)["linear"]
    assert np.all(clipped <= price[train].max() * (1 + 1e-6))


def test_prices_do_not_depend_on_the_cpu_s_expm1() -> None:
    """numpy's expm1 (AVX-512 SVML where the CPU has it) and the C library's differ by one
    float64 ULP in about 1 value in 10; predictions are rounded to float32, the precision of
    the model's margin, so both give the same bits."""
    margins = np.random.default_rng(0).uniform(9, 16, 200_000).astype(np.float32)
    simd = LOG.to_prices(margins, np.empty((len(margins), 0)))
    scalar = np.array([math.expm1(float(m)) for m in margins]).astype(np.float32)
    assert np.array_equal(simd, scalar.astype(np.float64))
    prices = np.exp(margins.astype(np.float64))
    scalar_log = np.array([math.log1p(p) for p in prices]).astype(np.float32)
    assert np.array_equal(LOG.to_fit(prices, np.empty((len(prices), 0))), scalar_log)


def test_feature_importance_lists_every_feature(data) -> None:
    features, price = data
    booster, _ = fit(features, LOG.to_fit(price, features), PARAMS)
    rows = feature_importance(booster, ["a", "b", "c", "constant"])
    assert [row["feature"] for row in rows][:2] == ["a", "b"]  # by the generating process
    assert rows[-1] == {"feature": "constant", "gain": 0.0}
    assert [row["gain"] for row in rows] == sorted((row["gain"] for row in rows), reverse=True)


def test_plot_rows_are_a_seeded_sample() -> None:
    actual = np.arange(5000, dtype=float)
    predicted = actual + 1
    rows = plot_rows(actual, predicted, 100, seed=3)
    assert len(rows) == 100
    assert rows.equals(plot_rows(actual, predicted, 100, seed=3))
    assert (rows["residual"] == -1).all()
    assert len(plot_rows(actual[:50], predicted[:50], 100, seed=3)) == 50


# --- atomic writes: a failing writer leaves nothing under the final name -----------------------


class WriterCrashError(RuntimeError):
    pass


def crash_while_writing(target: Path, payload: bytes) -> None:
    """A writer that dies half-way, as a stage killed by an exception would."""
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name != target.name
        tmp.write_bytes(payload)
        raise WriterCrashError


def crash_while_building(target: Path) -> None:
    with atomic_dir(target) as building:
        (building / "model.ubj").write_text("v2, half")
        raise WriterCrashError


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_atomic_path_leaves_no_file_when_the_writer_raises(tmp_path: Path) -> None:
    target = tmp_path / "out" / "model.ubj"
    with pytest.raises(WriterCrashError):
        crash_while_writing(target, b"half a model")
    assert leftovers(target.parent) == []


def test_atomic_path_keeps_the_old_file_when_the_writer_raises(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text('{"r2": 0.9}\n')
    with pytest.raises(WriterCrashError):
        crash_while_writing(target, b'{"r2": ')
    assert target.read_text() == '{"r2": 0.9}\n'
    assert leftovers(tmp_path) == ["metrics.json"]


def test_atomic_path_replaces_on_success_and_keeps_the_suffix(tmp_path: Path, data) -> None:
    """XGBoost picks the format from the suffix: the temporary name must end like the target."""
    booster, _ = fit(*data, PARAMS)
    target = tmp_path / "model.ubj"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".ubj"
        booster.save_model(tmp)
    assert leftovers(tmp_path) == ["model.ubj"]
    with pytest.raises(UnicodeDecodeError):
        json.loads(target.read_bytes().decode())  # UBJSON, not JSON
    assert xgb.Booster(model_file=str(target)).save_raw("ubj") == booster.save_raw("ubj")


def test_writers_leave_nothing_when_serialising_fails(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        write_json(tmp_path / "metrics.json", {"r2": float("nan")})  # NaN is no JSON
    with pytest.raises(Exception):  # noqa: B017, PT011 (pyarrow's error type varies)
        write_table(tmp_path / "train.parquet", pd.DataFrame({"x": [object()]}))
    assert leftovers(tmp_path) == []
    write_csv(tmp_path / "plot.csv", pd.DataFrame({"a": [1.5]}))
    assert (tmp_path / "plot.csv").read_text() == "a\n1.5\n"


def test_atomic_dir_swaps_in_a_complete_directory_only(tmp_path: Path) -> None:
    target = tmp_path / "models" / "house-price"
    with atomic_dir(target) as building:
        (building / "model.ubj").write_text("v1")
        assert not target.exists(), "nothing under the final name while it is built"
    assert leftovers(target) == ["model.ubj"]
    with pytest.raises(WriterCrashError):
        crash_while_building(target)
    assert (target / "model.ubj").read_text() == "v1"
    assert leftovers(target.parent) == ["house-price"]


def test_tuning_is_seeded_and_picks_the_best_cross_validated_trial(data) -> None:
    features, price = data
    params = PARAMS.overridden({"n_estimators": 40})
    reports: list[tuple[int, dict, float]] = []

    def report(number: int, chosen: dict, validation) -> None:
        reports.append((number, chosen, validation.rmse))

    fit_target = LOG.to_fit(price[:400], features[:400])
    best, rmse = tune(features[:400], fit_target, params, trials=3, seed=1, report=report)
    assert [number for number, _, _ in reports] == [0, 1, 2]
    assert rmse == min(score for _, _, score in reports)
    assert best == next(chosen for _, chosen, score in reports if score == rmse)
    assert tune(features[:400], fit_target, params, trials=3, seed=1) == (best, rmse)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_atomic_outputs_get_the_umasks_mode_not_owner_only(
    tmp_path: Path, mask: int, file_mode: int, dir_mode: int
) -> None:
    """mkstemp and mkdtemp create 0600 and 0700: a bundle only its writer could read."""
    previous = os.umask(mask)
    try:
        write_json(tmp_path / "metrics.json", {"r2": 0.9})
        with atomic_dir(tmp_path / "bundle") as bundle:
            write_json(bundle / "metadata.json", {})
    finally:
        os.umask(previous)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "bundle").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "bundle" / "metadata.json").stat().st_mode & 0o777 == file_mode


def test_atomic_path_refuses_a_symlink_and_leaves_what_it_points_to(tmp_path: Path) -> None:
    """Renaming over a link replaces it (/dev/stdout is one); writing through it could rewrite
    a DVC cache file. A loop or a link to nowhere in the path is one line too."""
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "metrics.json"
    link.symlink_to(real)
    with pytest.raises(DataError, match=r"metrics.json: is a symlink: give the path of a file"):
        write_json(link, {"r2": 0.9})
    assert link.is_symlink()
    assert real.read_text() == "old"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="is a symlink"):
        write_json(loop, {})
    nowhere = tmp_path / "dangling"
    nowhere.symlink_to(tmp_path / "nowhere")
    with pytest.raises(DataError) as info:
        write_json(nowhere / "out.json", {})
    assert str(info.value).endswith(f"cannot be written: {nowhere} is not a folder")


def test_atomic_path_refuses_a_pipe_and_a_path_under_a_file(tmp_path: Path) -> None:
    """Renaming over a device or pipe (/dev/null, /dev/stdout) would replace it with a file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(DataError, match=r"pipe: not a regular file \(a device, pipe or socket\)"):
        write_json(pipe, {})
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    (tmp_path / "file.csv").write_text("x")
    with pytest.raises(DataError) as info:
        write_json(tmp_path / "file.csv" / "deeper" / "out.json", {})
    assert str(info.value).endswith(f"cannot be written: {tmp_path / 'file.csv'} is not a folder")

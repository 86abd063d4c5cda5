"""The serving booster (house_price.serving.booster): XGBoost's C library through ctypes,
without the
xgboost Python package, predicting the same bits as `xgboost.Booster.inplace_predict`: on a
small model trained here (fast), and on the pipeline's bundle (`bundle_dir` from conftest)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from api_support import request_rows

from house_price.serving.booster import BoosterError, ServingBooster
from house_price.serving.bundle import MODEL_FILE, load_bundle


def with_missing(matrix: np.ndarray, seed: int, share: float = 0.1) -> np.ndarray:
    """A copy of `matrix` with about `share` of its values NaN (missing)."""
    holes = np.random.default_rng(seed).random(matrix.shape) < share
    return np.where(holes, np.nan, matrix)


def assert_same_bits(model_file: Path, matrix: np.ndarray) -> None:
    reference = xgb.Booster(model_file=str(model_file))
    for nthread in (1, 2, 0):
        reference.set_param({"nthread": nthread})
        expected = reference.inplace_predict(matrix)
        actual = ServingBooster(model_file, nthread).inplace_predict(matrix)
        assert actual.dtype == expected.dtype == np.float32
        assert actual.shape == expected.shape == (len(matrix),)
        np.testing.assert_array_equal(actual, expected)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressor on 6 features, trained with missing values (learned default directions)."""
    rng = np.random.default_rng(0)
    features = with_missing(rng.normal(size=(2000, 6)), seed=1)
    target = np.nansum(features * [3, -2, 1, 0.5, 0, 4], axis=1) + rng.normal(size=2000)
    booster = xgb.train(
        {"max_depth": 5, "eta": 0.3, "nthread": 1, "seed": 0},
        xgb.DMatrix(features, label=target),
        num_boost_round=50,
    )
    path = tmp_path_factory.mktemp("booster") / "model.ubj"
    booster.save_model(str(path))
    return path


def test_same_bits_as_xgboost_on_many_rows_with_missing_values(small_model: Path) -> None:
    rng = np.random.default_rng(2)
    matrix = with_missing(rng.normal(size=(20_000, 6)) * 3, seed=3, share=0.2)
    matrix[:50] = np.nan  # whole rows missing
    assert_same_bits(small_model, matrix)
    assert_same_bits(small_model, matrix[:1])  # one row, as a single request
    assert_same_bits(small_model, matrix.astype(np.float32))


def test_kept_proxies_give_each_call_its_own_data(small_model: Path) -> None:
    """Each thread reuses one proxy DMatrix: calls of different sizes in turn, and from four
    threads at once, give what a fresh xgboost.Booster gives for each matrix alone."""
    rng = np.random.default_rng(6)
    matrices = [
        with_missing(rng.normal(size=(rows, 6)) * 3, seed=rows, share=0.2)
        for rows in (1, 5000, 3, 64, 1, 200)
    ]
    reference = xgb.Booster(model_file=str(small_model))
    reference.set_param({"nthread": 1})
    expected = [reference.inplace_predict(matrix) for matrix in matrices]
    booster = ServingBooster(small_model, nthread=1)
    for _ in range(2):  # the same thread, the proxy reused with other shapes
        for matrix, want in zip(matrices, expected, strict=True):
            np.testing.assert_array_equal(booster.inplace_predict(matrix), want)

    def predict_all(offset: int) -> list[np.ndarray]:
        order = matrices[offset:] + matrices[:offset]
        return [booster.inplace_predict(matrix) for matrix in order * 20]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(predict_all, range(4)))
    for offset, got in enumerate(results):
        wanted = (expected[offset:] + expected[:offset]) * 20
        for actual, want in zip(got, wanted, strict=True):
            np.testing.assert_array_equal(actual, want)
    assert len(booster._proxies) >= 2  # one per calling thread, freed with the booster


def test_reads_the_model_features_and_refuses_another_width(small_model: Path) -> None:
    booster = ServingBooster(small_model, nthread=1)
    assert booster.num_features == 6
    with pytest.raises(ValueError, match="expected a matrix of 6 columns, got \\(3, 5\\)"):
        booster.inplace_predict(np.zeros((3, 5)))


def test_an_unreadable_model_file_is_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "model.ubj"
    broken.write_bytes(b"\x00not a model")
    with pytest.raises(BoosterError) as raised:
        ServingBooster(broken)
    assert "\n" not in str(raised.value)
    assert str(raised.value)


@pytest.mark.slow
def test_same_bits_as_xgboost_on_the_bundle(
    bundle_dir: Path, evaluated_rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """The pipeline's model on the test split as the API encodes it (missing fields imputed),
    and on random matrices of its width with missing values (XGBoost's default branches)."""
    served = load_bundle(bundle_dir, nthread=1)
    test, _ = evaluated_rows
    encoded = served.encoder.encode(request_rows(test, served.profile, omit_missing=True))
    assert_same_bits(bundle_dir / MODEL_FILE, encoded)
    scale = np.nanmax(np.abs(encoded), axis=0)
    noise = np.random.default_rng(4).uniform(-0.2, 1.2, size=(5000, encoded.shape[1])) * scale
    assert_same_bits(bundle_dir / MODEL_FILE, with_missing(noise, seed=5, share=0.3))

"""The serving path's booster: the bundle's model.ubj predicted through XGBoost's own C library
(libxgboost.so, shipped in the installed xgboost / xgboost-cpu wheel) with ctypes, without
importing the `xgboost` Python package, which imports SciPy.

`ServingBooster.inplace_predict` makes the call `xgboost.Booster.inplace_predict` makes for a
dense numpy matrix (XGBoosterPredictFromDense with the same array interface and the same
configuration; the data goes through a proxy DMatrix kept per thread rather than one XGBoost
builds per call), so it returns the same bits; tests/unit/serving/test_booster.py checks it."""

from __future__ import annotations

import ctypes
import json
import sys
import threading
from functools import cache
from pathlib import Path

import numpy as np

LIBRARY = "libxgboost.so"
BstUlong = ctypes.c_uint64
# What xgboost.Booster.inplace_predict sends for a plain prediction (no margin, all trees).
PREDICT_CONFIG = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


class BoosterError(RuntimeError):
    """XGBoost's C library refused a call; the message is its first line."""


def library_path() -> Path:
    """libxgboost.so of the xgboost package installed on sys.path (xgboost or xgboost-cpu),
    found by path: the package itself is never imported.

    Raises BoosterError when no installed xgboost package holds the library."""
    for entry in sys.path:
        path = Path(entry or ".") / "xgboost" / "lib" / LIBRARY
        if path.is_file():
            return path
    raise BoosterError(f"XGBoost's C library (xgboost/lib/{LIBRARY}) is not installed")


@cache
def library() -> ctypes.CDLL:
    """XGBoost's C library, loaded once, with the signatures used here declared."""
    lib = ctypes.CDLL(str(library_path()))
    handle, text = ctypes.c_void_p, ctypes.c_char_p
    lib.XGBGetLastError.restype = text
    lib.XGBGetLastError.argtypes = []
    signatures = {
        "XGBoosterCreate": [ctypes.POINTER(handle), BstUlong, ctypes.POINTER(handle)],
        "XGBoosterLoadModel": [handle, text],
        "XGBoosterSetParam": [handle, text, text],
        "XGBoosterGetNumFeature": [handle, ctypes.POINTER(BstUlong)],
        "XGBoosterPredictFromDense": [
            handle,
            text,
            text,
            handle,
            ctypes.POINTER(ctypes.POINTER(BstUlong)),
            ctypes.POINTER(BstUlong),
            ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
        ],
        "XGBoosterFree": [handle],
        "XGProxyDMatrixCreate": [ctypes.POINTER(handle)],
        "XGDMatrixFree": [handle],
    }
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = ctypes.c_int
    return lib


def _check(status: int) -> None:
    """Raise BoosterError with XGBoost's message when a C call failed (status != 0)."""
    if status != 0:
        message = (library().XGBGetLastError() or b"").decode(errors="replace")
        # The first line only: XGBoost appends a native stack trace.
        raise BoosterError((message.strip().splitlines() or ["unknown error"])[0][:300])


class ServingBooster:
    """A booster loaded from a model file, predicting dense float matrices on `nthread`
    threads (0: XGBoost's choice, all cores). Predictions are thread-safe, as
    `xgboost.Booster.inplace_predict` is.

    Each calling thread keeps one proxy DMatrix for its calls: without one, XGBoost builds a
    new proxy per call, and its constructor (a Context reading the cgroup CPU quota files)
    costs ~20 % of a small prediction."""

    def __init__(self, model_file: str | Path, nthread: int = 0) -> None:
        """Raises BoosterError when the C library or the model file cannot be loaded."""
        lib = library()
        self._lib = lib
        self._handle = ctypes.c_void_p()
        _check(lib.XGBoosterCreate(None, BstUlong(0), ctypes.byref(self._handle)))
        _check(lib.XGBoosterLoadModel(self._handle, str(model_file).encode()))
        # As xgboost.Booster(model_file=...) then set_param({"nthread": ...}).
        self._set("validate_parameters", "True")
        self._set("nthread", str(nthread))
        count = BstUlong()
        _check(lib.XGBoosterGetNumFeature(self._handle, ctypes.byref(count)))
        self.num_features = int(count.value)
        self._proxies: list[ctypes.c_void_p] = []  # one per calling thread, freed with us
        self._local = threading.local()

    def _proxy(self) -> ctypes.c_void_p:
        """This thread's proxy DMatrix (a proxy holds the data of one call at a time)."""
        proxy = getattr(self._local, "proxy", None)
        if proxy is None:
            proxy = ctypes.c_void_p()
            _check(self._lib.XGProxyDMatrixCreate(ctypes.byref(proxy)))
            self._proxies.append(proxy)
            self._local.proxy = proxy
        return proxy

    def _set(self, name: str, value: str) -> None:
        _check(self._lib.XGBoosterSetParam(self._handle, name.encode(), value.encode()))

    def inplace_predict(self, data: np.ndarray) -> np.ndarray:
        """The model's output for each row of `data` (shape (rows, num_features), float32 or
        float64; NaN is missing): shape (rows,), float32, a copy.

        Raises ValueError on another shape, BoosterError when XGBoost refuses the call."""
        if data.ndim != 2 or data.shape[1] != self.num_features:
            raise ValueError(f"expected a matrix of {self.num_features} columns, got {data.shape}")
        data = np.require(data, requirements="A")  # aligned, as xgboost's _ensure_np_dtype
        interface = dict(data.__array_interface__)
        shape = ctypes.POINTER(BstUlong)()
        dims = BstUlong()
        result = ctypes.POINTER(ctypes.c_float)()
        _check(
            self._lib.XGBoosterPredictFromDense(
                self._handle,
                json.dumps(interface).encode(),
                PREDICT_CONFIG,
                self._proxy(),
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(result),
            )
        )
        dimensions = tuple(int(shape[index]) for index in range(dims.value))
        if 0 in dimensions:
            return np.empty(dimensions, dtype=np.float32)
        # The buffer belongs to the booster (reused by its next call on this thread): copy.
        return np.ctypeslib.as_array(result, shape=dimensions).copy()

    def __del__(self) -> None:
        for proxy in getattr(self, "_proxies", ()):
            self._lib.XGDMatrixFree(proxy)
        handle = getattr(self, "_handle", None)
        if handle:
            self._lib.XGBoosterFree(handle)

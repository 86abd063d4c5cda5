"""Micro-batching of concurrent single-row requests (POST /predict), and the bounded runner of
large batches (POST /predict/batch)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class MicroBatcher:
    """Coalesces concurrent single-row requests into one prediction call, made on a worker
    thread.

    One XGBoost call costs ~0.2-0.4 ms whatever the rows (~1 us each). At most one call is in
    flight: the rows of the requests that arrive meanwhile wait and go together in the next
    one, so batches grow with the load (1 row when alone). The worker thread lets the event
    loop parse, validate and answer other requests while XGBoost runs without the GIL.
    Per-row results do not depend on the batch (the parity tests check it)."""

    def __init__(self, predict_rows: Callable[[Sequence[Mapping[str, Any]]], np.ndarray]) -> None:
        self._predict = predict_rows
        self._pending: list[tuple[Mapping[str, Any], asyncio.Future[float]]] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._drainer: asyncio.Task[None] | None = None

    async def predict(self, row: Mapping[str, Any]) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((row, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    def _values(self, rows: list[Mapping[str, Any]]) -> list[float]:
        return self._predict(rows).tolist()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [row for row, _ in batch]
                try:
                    values = await loop.run_in_executor(self._executor, self._values, rows)
                except Exception as exc:  # reaches every waiting request as its own error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), value in zip(batch, values, strict=True):
                    if not future.done():  # a request whose client went away is cancelled
                        future.set_result(value)
        finally:
            self._drainer = None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class BatchRunner:
    """Runs POST /predict/batch work (validation, encoding, prediction) on one thread, one
    call at a time, with `pending` more admitted to wait; beyond that, `admit` says no and the
    request is answered 503 with Retry-After before its body is read.

    Why: each large call runs XGBoost on MODEL_THREADS OpenMP threads, and libgomp keeps a
    team per calling thread. Calls from a thread pool multiplied the teams: under
    `--pids-limit 16`, 48 concurrent 1,000-row batches made thread creation fail, which
    aborts the process. One calling thread means one team, created at start-up (the model is
    loaded and self-checked on this thread), so the process's threads stay bounded
    (main, this one, the micro-batch thread, MODEL_THREADS - 1 OpenMP threads, and at most
    THREADPOOL_TOKENS threads of the app's thread pool), and memory stays bounded by the
    bodies of `pending` + 1 batches."""

    def __init__(self, pending: int) -> None:
        self.capacity = pending + 1
        self.admitted = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch")

    def admit(self) -> bool:
        """Takes a place if there is one (event loop only: no lock needed)."""
        if self.admitted >= self.capacity:
            return False
        self.admitted += 1
        return True

    def release(self) -> None:
        self.admitted -= 1

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

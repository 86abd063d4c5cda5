"""Micro-batching of concurrent single-row requests (POST /predict), and the bounded runner of
large batches (POST /predict/batch)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


LINGER_PASSES = 8  # at most this many event-loop passes waiting for more requests
INLINE_MAX_ROWS = 64  # micro-batches up to this size are predicted on the event loop


class MicroBatcher:
    """Coalesces concurrent single-row requests into one prediction call (dynamic batching,
    as Triton's `max_queue_delay` or TF Serving's batch timeout, bounded in loop passes
    instead of microseconds).

    One XGBoost call costs ~90-230 us for 1 to 8 rows, nearly all of it fixed per call, ~1 us
    per extra row: a call per request would cap a worker near 1 / 0.2 ms. At most one call is
    in flight. Before it, the batcher lingers while requests keep joining: one event-loop pass
    at a time, as long as the last pass queued another row (at most LINGER_PASSES), so the
    requests that wrk-like clients send back to back go together; with no other request it
    predicts at the next pass. A batch of up to INLINE_MAX_ROWS rows is predicted on the event
    loop (a fraction of a millisecond); larger ones on a worker thread, so that the loop keeps
    parsing meanwhile. Per-row results do not depend on the batch (the parity tests check it).

    Why on the loop: handing a small call to a thread cost more than it saved. With the
    worker thread, each call waited for the GIL twice (to start, and to return from the C
    library) while the loop ran Python; 8 connections: 2,700-3,060 req/s on the thread,
    2,950-3,990 on the loop with the linger (bench/api_bench.py, DESIGN_NOTES)."""

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

    async def _linger(self) -> None:
        """Event-loop passes while each one queues more rows (at most LINGER_PASSES)."""
        for _ in range(LINGER_PASSES):
            queued = len(self._pending)
            await asyncio.sleep(0)  # one pass: requests already received reach the queue
            if len(self._pending) == queued or len(self._pending) > INLINE_MAX_ROWS:
                return

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                await self._linger()
                batch, self._pending = self._pending, []
                rows = [row for row, _ in batch]
                try:
                    if len(rows) <= INLINE_MAX_ROWS:
                        values = self._values(rows)
                    else:
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

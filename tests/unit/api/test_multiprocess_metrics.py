"""/metrics of several workers, as house_price.api.metrics reads their files: a worker's file
that is still empty (created, not yet sized: a worker starting, or killed at that moment) is
skipped, not a 500 for the whole scrape (prometheus/client_python#1199); the live gauges of a
worker the supervisor (house_price.serve) has reaped are dropped, its counts kept. The files are
written by prometheus-client's own MmapedDict, as the workers write them.
tests/integration/test_server_fleet.py kills real workers."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from house_price.api.metrics import WorkerFilesCollector
from house_price.serve import forget_gone_workers


def write(path: Path, name: str, value: float, **labels: str) -> None:
    """One sample in a worker's file, as prometheus-client's multiprocess values write it."""
    values = MmapedDict(str(path))
    try:
        key = mmap_key(name, name, list(labels), list(labels.values()), f"{name} help")
        values.write_value(key, value, 0.0)
    finally:
        values.close()


def exposition(collector: object) -> str:
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


@pytest.fixture
def workers_dir(tmp_path: Path) -> Path:
    """Two workers' counts and in-flight gauges, and a third worker's files, still empty."""
    write(tmp_path / "counter_101.db", "http_requests_total", 3.0, handler="/livez")
    write(tmp_path / "counter_102.db", "http_requests_total", 4.0, handler="/livez")
    write(tmp_path / "gauge_livesum_101.db", "http_requests_in_flight", 1.0)
    write(tmp_path / "gauge_livesum_102.db", "http_requests_in_flight", 2.0)
    for empty in ("counter_103.db", "gauge_livesum_103.db", "histogram_103.db"):
        (tmp_path / empty).touch()
    return tmp_path


def test_an_empty_worker_file_is_skipped(workers_dir: Path) -> None:
    text = exposition(WorkerFilesCollector(str(workers_dir)))
    assert 'http_requests_total{handler="/livez"} 7.0' in text
    assert "http_requests_in_flight 3.0" in text


def test_prometheus_clients_own_collector_fails_on_it(workers_dir: Path) -> None:
    """What WorkerFilesCollector avoids: the whole scrape fails on the one empty file."""
    with pytest.raises(struct.error):
        exposition(MultiProcessCollector(None, path=str(workers_dir)))


def test_only_empty_files_are_skipped(workers_dir: Path) -> None:
    """A file with a header but no sample yet (a worker sized it, wrote nothing) adds none; a
    corrupt one still fails, as prometheus-client's does."""
    MmapedDict(str(workers_dir / "counter_104.db")).close()
    assert 'http_requests_total{handler="/livez"} 7.0' in exposition(
        WorkerFilesCollector(str(workers_dir))
    )
    # 24 bytes used, of which one entry claims a 100-byte key
    corrupt = struct.pack("ii", 24, 0) + struct.pack("i", 100) + b"\0" * 52
    (workers_dir / "counter_105.db").write_bytes(corrupt)
    with pytest.raises(RuntimeError, match="corrupted"):
        exposition(WorkerFilesCollector(str(workers_dir)))


def test_the_live_gauges_of_every_gone_worker_are_dropped(tmp_path: Path) -> None:
    """Worker 201 serves; 202 was SIGKILLed mid-request (in flight 1, its memory); 203 was a
    SIGHUP replacement killed before it was ready (model_ready 0, which held the fleet's
    minimum at 0). Their live gauges go, their counts stay; the worker's are untouched."""
    write(tmp_path / "counter_201.db", "http_requests_total", 3.0, handler="/livez")
    write(tmp_path / "counter_202.db", "http_requests_total", 4.0, handler="/livez")
    for pid, in_flight, ready in ((201, 1.0, 1.0), (202, 1.0, 1.0), (203, 0.0, 0.0)):
        write(tmp_path / f"gauge_livesum_{pid}.db", "http_requests_in_flight", in_flight)
        write(tmp_path / f"gauge_livemin_{pid}.db", "model_ready", ready)
    write(tmp_path / "gauge_liveall_202.db", "process_open_fds", 30.0, pid="202")
    collector = WorkerFilesCollector(str(tmp_path))
    before = exposition(collector)
    assert "model_ready 0.0" in before
    assert "http_requests_in_flight 2.0" in before

    assert forget_gone_workers(tmp_path, {201}) == {202, 203}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "counter_201.db",
        "counter_202.db",
        "gauge_livemin_201.db",
        "gauge_livesum_201.db",
    ]
    after = exposition(collector)
    assert "model_ready 1.0" in after
    assert "http_requests_in_flight 1.0" in after
    assert 'http_requests_total{handler="/livez"} 7.0' in after
    assert "process_open_fds" not in after
    assert forget_gone_workers(tmp_path, {201}) == set()  # each pid once


def test_no_worker_is_forgotten_while_it_serves(tmp_path: Path) -> None:
    """Workers' files, and a worker not started yet (no pid): nothing is dropped."""
    for pid in (301, 302):
        write(tmp_path / f"gauge_livemin_{pid}.db", "model_ready", 1.0)
    assert forget_gone_workers(tmp_path, {301, 302, None}) == set()
    assert len(list(tmp_path.iterdir())) == 2

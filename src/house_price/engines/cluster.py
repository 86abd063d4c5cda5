"""The Dask cluster a stage of the Dask engine runs on: the one DASK_SCHEDULER_ADDRESS names
(dask-kubernetes, dask-gateway, Coiled, `dask scheduler` ...), else a LocalCluster of worker
processes on loopback, started for the stage and stopped with it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from house_price.core.errors import ClusterError
from house_price.core.params import Dask

if TYPE_CHECKING:
    from distributed import Client

SCHEDULER_ADDRESS = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 30  # a scheduler that does not answer in this time is reported, not awaited
# Dask turns pandas' string columns into its own Arrow strings, whose missing value is pd.NA;
# the cleaning rules expect pandas' own (NaN) on every engine. Workers read it from this
# variable: LocalCluster's inherit it, a remote cluster's deployment sets it.
CONFIG_ENV = {"DASK_DATAFRAME__CONVERT_STRING": "False"}


def configure() -> None:
    """Dask's settings for this process (and the LocalCluster workers it starts)."""
    import dask

    os.environ.update(CONFIG_ENV)
    dask.config.set({"dataframe.convert-string": False})
    # The scheduler of a LocalCluster runs in this process: its INFO and WARNING lines (a shuffle
    # starting, a task failing) are not the stage's to print; errors reach the caller raised.
    logging.getLogger("distributed").setLevel(logging.ERROR)


@contextmanager
def connect(settings: Dask) -> Iterator[Client]:
    """A client of the cluster for one stage. `settings` is the `dask` params section (the
    LocalCluster's workers, threads and memory). Raises ClusterError (one line) when the
    scheduler named by DASK_SCHEDULER_ADDRESS does not answer within CONNECT_TIMEOUT_S."""
    from distributed import Client, LocalCluster

    configure()
    address = os.environ.get(SCHEDULER_ADDRESS)
    if address:
        try:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"{SCHEDULER_ADDRESS}={address}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__}); start one (`dask scheduler`) "
                "or unset it to run a LocalCluster"
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=settings.workers,
        threads_per_worker=settings.threads_per_worker,
        memory_limit=f"{settings.worker_memory_mib}MiB",
        processes=True,
        host="127.0.0.1",
        # Their HTTP servers (health, metrics) on free loopback ports: never 8787, which
        # another cluster may hold, and never beyond this machine.
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL,  # a failed task is reported once, by the stage
    )
    with cluster, Client(cluster) as client:
        yield client


def cluster_size(client: Client) -> dict[str, int]:
    """The cluster's worker processes and their threads in all, as the run records them."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return {"workers": len(workers), "threads": sum(worker["nthreads"] for worker in workers)}

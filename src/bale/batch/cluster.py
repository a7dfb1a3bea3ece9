"""The Dask cluster a batch runs on: a local cluster of worker processes, or a given scheduler or client."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bale.batch.worker import _one_line
from bale.errors import BaleInputError

_INSTALL_HINT = "compressing many files needs dask.distributed: pip install 'bale[dask]'"
_PRE_SPAWN = "distributed.nanny.pre-spawn-environ"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BaleInputError(_INSTALL_HINT) from None
    return distributed


@contextmanager
def _restore_environ(names: Iterable[str]) -> Iterator[None]:
    """Give this process its environment back: the nanny of a local cluster writes into ``os.environ``."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _restore_level(logger: logging.Logger, level: int) -> Iterator[None]:
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def local_client(workers: int = 2, *, threads: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` of a new local cluster of ``workers`` processes, closed on exit.

    Each worker process runs one task at a time, with ``threads`` threads for the numeric libraries.
    Pass it as ``client=`` to several :func:`compress_many` calls to start the processes once.
    Scripts that use it need the ``if __name__ == "__main__":`` guard: the workers are spawned.
    """
    distributed = _import_distributed()
    import dask

    if workers < 1:
        raise BaleInputError(f"workers must be at least 1, not {workers}")
    if threads < 1:
        raise BaleInputError(f"threads must be at least 1, not {threads}")
    # Variables the nanny sets before it spawns each worker process (they must be there before numpy is
    # imported or the process starts): one thread per numeric library, as bale.compress gets `threads`;
    # and not dask's MALLOC_TRIM_THRESHOLD_=65536, under which glibc maps and unmaps every large array
    # bale allocates: measured 2.4x slower per file.
    environ = {k: v for k, v in dask.config.get(_PRE_SPAWN, {}).items() if k != "MALLOC_TRIM_THRESHOLD_"}
    environ.update({name: threads for name in _THREAD_VARIABLES})
    # the scheduler and nannies of a local cluster live in this process and log each start and stop at
    # INFO on their own handler: keep them to warnings while the cluster is ours (unless asked for DEBUG)
    noisy = logging.getLogger("distributed")
    level = noisy.level
    if level != logging.DEBUG:
        noisy.setLevel(max(level, logging.WARNING))
    with (
        _restore_level(noisy, level),
        _restore_environ([*environ, "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED"]),
        # the workers' statistical profiler samples every thread's stack each 10 ms: 15% of a file's time
        dask.config.set({_PRE_SPAWN: environ, "distributed.worker.profile.enabled": False}),
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # the HTTP server of the scheduler stays on (health checks): a free port, not 8787 and its warning
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@contextmanager
def _dask_client(distributed: Any, scheduler: str | None, client: Any, workers: int, threads: int) -> Iterator[Any]:
    """The given client; or one of ``scheduler``; or a local cluster of ``workers`` processes, closed after."""
    if client is not None:
        yield client
    elif scheduler:
        from distributed.comm.addressing import get_address_host_port, normalize_address

        try:
            get_address_host_port(normalize_address(scheduler))  # before a Client that could not close cleanly
            remote = distributed.Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BaleInputError(f"cannot connect to the Dask scheduler at {scheduler}: {_one_line(exc)}") from exc
        with remote:
            yield remote
    else:
        with local_client(workers, threads=threads) as local:
            yield local

"""Many files, one model: :func:`compress_many` on Dask, and :func:`sample_rows` to train across files.

``compress_many`` runs one :func:`bale.compress` per input file as a task on ``dask.distributed``
(a local cluster of worker processes by default, or an existing scheduler). A manifest in the
output folder records, for each input, the SHA-256 of the input, of the model file, the options
and the SHA-256 of the output, so that a re-run skips the files already done, and only those.

Only paths and plain option values travel to the workers (by Dask's own task transport); each
worker reads the model file itself and checks it against the hash taken when the run started.
The parts: ``report.py`` (what a run reports), ``manifest.py`` (what a re-run skips),
``worker.py`` (one file's task), ``cluster.py`` (the Dask cluster).

Dask is an optional dependency: ``pip install 'bale[dask]'``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bale.batch.cluster import _dask_client, _import_distributed, local_client
from bale.batch.manifest import MANIFEST_NAME, _Manifest, _sha256_file
from bale.batch.report import BatchReport, FileResult, Status
from bale.batch.worker import _check_inputs, _compress_one, _compress_options, _one_line
from bale.errors import BaleInputError
from bale.table import Dataset, Table
from bale.training.sampling import sample_files

__all__ = [
    "MANIFEST_NAME",
    "BatchReport",
    "FileResult",
    "Status",
    "compress_many",
    "local_client",
    "sample_rows",
]

log = logging.getLogger(__name__)


def compress_many(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None,
    scheduler: str | None = None,
    client: Any = None,
    workers: int = 2,
    threads: int = 1,
    progress: bool = True,
    **compress_options: Any,
) -> BatchReport:
    """Compress each of ``inputs`` into ``out_dir/<stem>.bale`` with the model file ``model``, on Dask.

    Runs on ``client`` (a ``distributed.Client``, for instance from :func:`local_client`) if given,
    else on the scheduler at address ``scheduler`` (``tcp://host:8786``), else on a local cluster of
    ``workers`` processes created and closed here (about a second per process to start and import
    bale; the caller's script needs the ``if __name__ == "__main__":`` guard).
    Each file is coded with ``threads`` threads (bale's chunk threads and BLAS/OpenMP), so that
    processes do not oversubscribe the cores. ``compress_options`` go to :func:`bale.compress`
    (``error``, ``errors``, ``config``, ``columns``, ``tree``...); they must be plain values.

    A failing file is reported (``report.failed``) and never stops the others. Files whose input,
    model and options are those recorded in ``out_dir/bale-manifest.json`` and whose output is
    intact are skipped. With ``model=None`` every file trains and embeds its own model (slow).
    The workers must see the same paths as the caller.
    """
    distributed = _import_distributed()
    started = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    pairs = _check_inputs(inputs, out)
    if threads < 1:
        raise BaleInputError(f"threads must be at least 1, not {threads}")
    model_path = None
    model_sha = None
    if model is not None:
        model_path = Path(model).resolve()
        if not model_path.is_file():
            raise BaleInputError(f"no such model file: {model}")
        model_sha = _sha256_file(model_path)[0]
    options, key = _compress_options(compress_options)
    manifest = _Manifest(out / MANIFEST_NAME)
    jobs: list[dict[str, Any]] = [
        {
            "input": str(source),
            "output": str(output),
            "model": str(model_path) if model_path else None,
            "model_sha256": model_sha,
            "options": options,
            "key": key,
            "previous": manifest.get(str(source)),
            "threads": threads,
        }
        for source, output in pairs
    ]
    log.info("compressing %d files into %s (model %s)", len(jobs), out, (model_sha or "embedded")[:16])
    results: dict[str, FileResult] = {}
    with _dask_client(distributed, scheduler, client, workers, threads) as dask_client:
        run = uuid.uuid4().hex[:8]
        futures = {
            dask_client.submit(_compress_one, job, key=f"bale-compress-{run}-{i}", pure=False): job
            for i, job in enumerate(jobs)
        }
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="compressing files", unit="file", disable=not progress)
        try:
            for future in distributed.as_completed(list(futures), loop=dask_client.loop):
                job = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # the task itself could not run: a worker died, the cluster went away
                    outcome = {"input": job["input"], "output": job["output"], "status": "failed"}
                    outcome["error"] = _one_line(exc)
                entry = outcome.pop("entry", None)
                manifest.record(job["input"], entry if outcome["status"] != "failed" else None)
                manifest.save()
                result = FileResult(**outcome)
                results[job["input"]] = result
                if result.status == "failed":
                    log.warning("%s failed: %s", result.input, result.error)
                else:
                    log.info("%s %s in %.2f s (ratio %s)", result.input, result.status, result.seconds, result.ratio)
                bar.update(1)
                bar.set_postfix(failed=sum(r.status == "failed" for r in results.values()), refresh=False)
        except BaseException:
            dask_client.cancel(list(futures))
            raise
        finally:
            bar.close()
            manifest.save(force=True)
        n_workers = len(dask_client.scheduler_info().get("workers", {}))
    report = BatchReport(
        [results[job["input"]] for job in jobs],
        str(out),
        str(manifest.path),
        time.perf_counter() - started,
        n_workers,
    )
    log.info("%s", report.summary())
    return report


def sample_rows(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    max_rows: int,
    train_fraction: float | None = None,
    seed: int = 0,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
) -> Table | Dataset:
    """A training sample of at most ``max_rows`` rows drawn across ``inputs``, reproducibly.

    The sample ``bale.train(inputs, ...)`` learns from, by the same sampler
    (:func:`bale.training.sampling.sample_files`; ``train.seed`` there is ``seed`` here).
    Files are read one at a time, in the order given (sort a glob first: its order is the file
    system's). Each file gives an equal share of the rows still to draw (a small file leaves the
    rest of its share to the files after it), or ``train_fraction`` of its rows if that is less
    (at least one row). Rows are drawn without replacement with a generator seeded by ``seed``
    and kept in file order; a ROOT file gives its first events, and a tree with collections
    whole events (then the sample is a :class:`~bale.table.Dataset`).
    All files must have the same columns with the same dtypes.
    """
    from bale.api.inputs import _Source

    paths = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]

    def read(path: Path, rows: int) -> Dataset:
        return _Source(path, columns, tree, False, max(rows, 1)).sample(rows)

    sample = sample_files(paths, read, max_rows=max_rows, train_fraction=train_fraction, seed=seed)
    return Table(dict(sample.main.columns)) if not sample.counters else sample

"""Many files, one model: :func:`compress_many` on Dask, and :func:`sample_rows` to train across files.

``compress_many`` runs one :func:`bale.compress` per input file as a task on ``dask.distributed``
(a local cluster of worker processes by default, or an existing scheduler). A manifest in the
output folder records, for each input, the SHA-256 of the input, of the model file, the options
and the SHA-256 of the output, so that a re-run skips the files already done, and only those.

Only paths and plain option values travel to the workers (by Dask's own task transport); each
worker reads the model file itself and checks it against the hash taken when the run started.

Dask is an optional dependency: ``pip install 'bale[dask]'``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bale._version import __version__
from bale.errors import BaleInputError
from bale.fsutil import atomic_target
from bale.table import Table

__all__ = ["MANIFEST_NAME", "BatchReport", "FileResult", "compress_many", "local_client", "sample_rows"]

log = logging.getLogger(__name__)

#: The manifest's file name inside the output folder.
MANIFEST_NAME = "bale-manifest.json"
MANIFEST_FORMAT = "bale-manifest"
MANIFEST_VERSION = 1
#: Seconds between two writes of the manifest while results arrive (always written at the end).
MANIFEST_INTERVAL = 1.0
_INSTALL_HINT = "compressing many files needs dask.distributed: pip install 'bale[dask]'"
_HASH_BLOCK = 1 << 20
_PRE_SPAWN = "distributed.nanny.pre-spawn-environ"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
_MESSAGE_CHARS = 300

Status = Literal["done", "skipped", "failed"]


# --------------------------------------------------------------------------- report


@dataclass
class FileResult:
    """What happened to one input file.

    ``ratio`` is bale's honest ratio of the output (raw bytes of the table over the bytes of the
    ``.bale`` file); ``input_bytes`` is the size of the input file on disk.
    """

    input: str
    output: str
    status: Status
    input_bytes: int | None = None
    output_bytes: int | None = None
    raw_bytes: int | None = None
    ratio: float | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def name(self) -> str:
        return Path(self.input).name


@dataclass
class BatchReport:
    """The outcome of :func:`compress_many`, one :class:`FileResult` per input, in input order."""

    files: list[FileResult]
    out_dir: str
    manifest: str
    seconds: float = 0.0
    workers: int | None = None

    def _with(self, status: Status) -> list[FileResult]:
        return [f for f in self.files if f.status == status]

    @property
    def done(self) -> list[FileResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[FileResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def totals(self) -> dict[str, Any]:
        """Counts and bytes over the files that have an output (done or skipped)."""
        have = [f for f in self.files if f.status != "failed"]
        raw = sum(f.raw_bytes or 0 for f in have)
        out = sum(f.output_bytes or 0 for f in have)
        return {
            "files": len(self.files),
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "input_bytes": sum(f.input_bytes or 0 for f in have),
            "raw_bytes": raw,
            "output_bytes": out,
            "ratio": round(raw / out, 4) if out else None,
            "seconds": round(self.seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json``)."""
        return {
            "out_dir": self.out_dir,
            "manifest": self.manifest,
            "workers": self.workers,
            "totals": self.totals(),
            "files": [asdict(f) for f in self.files],
        }

    def summary(self) -> str:
        """A few lines for a terminal: the totals, then one line per failed file."""
        t = self.totals()
        out = t["output_bytes"]
        lines = [
            f"{t['files']} files: {t['done']} compressed, {t['skipped']} skipped (unchanged), {t['failed']} failed; "
            f"{t['seconds']:.1f} s"
        ]
        if out:  # two denominators, each labelled: the values' raw bytes, and the input files on disk
            lines.append(
                f"{out / 1e6:.1f} MB out; ratio {t['raw_bytes'] / out:.2f} over the raw values "
                f"({t['raw_bytes'] / 1e6:.1f} MB), {t['input_bytes'] / out:.2f} over the input files on disk "
                f"({t['input_bytes'] / 1e6:.1f} MB)"
            )
        lines += [f"failed: {f.input}: {f.error}" for f in self.failed]
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BaleInputError(_INSTALL_HINT) from None
    return distributed


def _sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of ``path``, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        raise BaleInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise BaleInputError(f"not a file: {path}") from None
    return digest.hexdigest(), size


def _one_line(exc: BaseException) -> str:
    """A one-line message: bale's own errors as they read, others with their type."""
    from bale.errors import BaleError

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    message = first if isinstance(exc, BaleError) and first else f"{type(exc).__name__}: {first}".rstrip(": ")
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 1] + "…"


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data, to compare options between runs."""
    from pydantic import BaseModel

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return str(Path(value).resolve())
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v, where) for v in value)
    raise BaleInputError(f"option {where} of type {type(value).__name__} cannot be recorded in the manifest")


def _compress_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword arguments for the workers' ``bale.compress`` and their JSON form for the manifest.

    A config given as a path is read here, once: the workers get the validated config and the
    manifest its values, so a comment changed in the TOML file does not redo every file.
    """
    from bale.api import compress
    from bale.config import BaleConfig, load_config

    accepted = inspect.signature(compress).parameters
    reserved = {"data", "output", "model", "progress", "workers"}
    for name in options:
        if name in reserved or name not in accepted:
            raise BaleInputError(f"compress_many: {name!r} is not an option to pass on to bale.compress")
    kwargs = {k: v for k, v in options.items() if v is not None}
    config = kwargs.get("config")
    kwargs["config"] = config if isinstance(config, BaleConfig) else load_config(config)
    key = json.loads(json.dumps({k: _jsonable(v, k) for k, v in kwargs.items()}, sort_keys=True))
    return kwargs, key


def _check_inputs(inputs: Iterable[str | os.PathLike[str]], out_dir: Path) -> list[tuple[Path, Path]]:
    """(input, output) pairs; an input given twice counts once, two inputs may not share an output."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pairs: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    outputs: dict[Path, Path] = {}
    for given in inputs:
        path = Path(given).resolve()
        if path in seen:
            continue
        seen.add(path)
        output = out_dir / (path.stem + ".bale")
        if output in outputs:
            raise BaleInputError(f"{outputs[output]} and {path} would both be compressed into {output}")
        outputs[output] = path
        pairs.append((path, output))
    if not pairs:
        raise BaleInputError("no input files")
    return pairs


# --------------------------------------------------------------------------- manifest


class _Manifest:
    """``out_dir/bale-manifest.json``: resolved input path -> the record of its finished output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._written = 0.0
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a bale manifest")
            files = data.get("files")
            if not isinstance(files, dict):
                raise ValueError("no 'files' mapping")
        except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            log.warning("ignoring unreadable manifest %s (%s): every file will be compressed again", path, exc)
            return
        if data.get("version") != MANIFEST_VERSION:
            raise BaleInputError(
                f"{path} has manifest version {data.get('version')!r}; this bale ({__version__}) "
                f"reads version {MANIFEST_VERSION}"
            )
        self.files = {k: v for k, v in files.items() if isinstance(v, dict)}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.files.get(key)

    def record(self, key: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            self._dirty |= self.files.pop(key, None) is not None
        elif self.files.get(key) != entry:
            self.files[key] = entry
            self._dirty = True

    def save(self, *, force: bool = False) -> None:
        """Write atomically if anything changed (at most every :data:`MANIFEST_INTERVAL` s unless forced)."""
        if not self._dirty or (not force and time.monotonic() - self._written < MANIFEST_INTERVAL):
            return
        body = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        with atomic_target(self.path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        self._dirty = False
        self._written = time.monotonic()


# --------------------------------------------------------------------------- the task (runs on a worker)

#: Models read by this worker process, by SHA-256 of the model file.
_MODELS: dict[str, Any] = {}


def _worker_model(path: str, expected: str) -> Any:
    """The model at ``path``, read once per worker process, checked against the hash of the run."""
    from bale.api import load_model

    def check() -> None:
        if _sha256_file(Path(path))[0] != expected:
            raise BaleInputError(f"the model file {path} changed during the run")

    check()
    if expected not in _MODELS:
        model = load_model(path)
        check()  # the bytes loaded are those hashed
        _MODELS.clear()  # one model per run: keep memory flat on a long-lived worker
        _MODELS[expected] = model
    return _MODELS[expected]


def _unchanged(previous: Mapping[str, Any] | None, fresh: Mapping[str, Any], output: Path) -> bool:
    """Whether ``previous`` records this very input, model and options, and the output is intact."""
    if not previous or any(previous.get(k) != v for k, v in fresh.items()):
        return False
    try:
        size = output.stat().st_size
    except OSError:
        return False
    return size == previous.get("output_bytes") and _sha256_file(output)[0] == previous.get("output_sha256")


def _compress_one(job: dict[str, Any]) -> dict[str, Any]:
    """Compress one file, or find it done; never raises (the error is returned as one line)."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    source, output = Path(job["input"]), Path(job["output"])
    result: dict[str, Any] = {"input": str(source), "output": str(output), "status": "failed"}
    try:
        with threadpool_limits(limits=job["threads"]):
            input_sha, input_bytes = _sha256_file(source)
            result["input_bytes"] = input_bytes
            fresh = {"input_sha256": input_sha, "model_sha256": job["model_sha256"], "options": job["key"]}
            previous = job["previous"]
            if _unchanged(previous, fresh, output):
                result.update(
                    status="skipped",
                    output_bytes=previous["output_bytes"],
                    raw_bytes=previous.get("raw_bytes"),
                    ratio=previous.get("ratio"),
                    entry=previous,
                )
                return result
            from bale.api import compress

            model = _worker_model(job["model"], job["model_sha256"]) if job["model"] else None
            options = dict(job["options"])
            options["workers"] = job["threads"]
            report = compress(source, output, model=model, progress=False, **options)
            output_sha, output_bytes = _sha256_file(output)
            seconds = round(time.perf_counter() - started, 3)
            result.update(
                status="done",
                output_bytes=output_bytes,
                raw_bytes=report.get("raw_bytes"),
                ratio=report.get("ratio"),
            )
            result["entry"] = {
                **fresh,
                "input_bytes": input_bytes,
                "output": output.name,
                "output_sha256": output_sha,
                "output_bytes": output_bytes,
                "raw_bytes": report.get("raw_bytes"),
                "ratio": report.get("ratio"),
                "seconds": seconds,
                "bale_version": __version__,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    except Exception as exc:  # one file's failure must not lose the others
        result["error"] = _one_line(exc)
    finally:
        result["seconds"] = round(time.perf_counter() - started, 3)
    return result


# --------------------------------------------------------------------------- compress_many


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


# --------------------------------------------------------------------------- sample_rows


def sample_rows(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    max_rows: int,
    train_fraction: float | None = None,
    seed: int = 0,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
) -> Table:
    """A training sample of at most ``max_rows`` rows drawn across ``inputs``, reproducibly.

    Files are read one at a time, in the order given (sort a glob first: its order is the file
    system's). Each file gives an equal share of the rows still to draw (a small file leaves the
    rest of its share to the files after it), or ``train_fraction`` of its rows if that is less.
    Rows are drawn without replacement with a generator seeded by ``seed`` and kept in file order.
    All files must have the same columns with the same dtypes.
    """
    from bale.io import read_table

    paths = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
    if not paths:
        raise BaleInputError("no input files to sample")
    if max_rows < 1:
        raise BaleInputError(f"max_rows must be at least 1, not {max_rows}")
    if train_fraction is not None and not 0 < train_fraction <= 1:
        raise BaleInputError(f"train_fraction must be in (0, 1], not {train_fraction}")
    wanted = list(columns) if columns is not None else None
    rng = np.random.default_rng(seed)
    parts: list[dict[str, np.ndarray]] = []
    schema: dict[str, np.dtype] | None = None
    first: Path | None = None
    remaining = max_rows
    for i, path in enumerate(paths):
        table = read_table(path, columns=wanted, tree=tree)
        have = {n: v.dtype for n, v in table.columns.items()}
        if schema is None:
            schema, first = have, path
        elif set(have) != set(schema):
            missing = sorted(set(schema) - set(have))
            extra = sorted(set(have) - set(schema))
            raise BaleInputError(
                f"{path} has other columns than {first}: missing {missing}, unexpected {extra}; "
                "pass columns= to choose common ones"
            )
        else:
            changed = sorted(n for n in schema if have[n] != schema[n])
            if changed:
                detail = ", ".join(f"{n} ({have[n]} vs {schema[n]})" for n in changed)
                raise BaleInputError(f"{path} has other dtypes than {first}: {detail}")
        n = table.num_rows
        share = remaining // (len(paths) - i)
        take = min(n, share)
        if train_fraction is not None:
            take = min(take, round(train_fraction * n))
        rows = np.sort(rng.choice(n, size=take, replace=False)) if take < n else np.arange(n)
        parts.append({name: table.columns[name][rows] for name in schema})
        remaining -= take
        log.debug("sampled %d of %d rows from %s", take, n, path)
    assert schema is not None
    sample = Table({name: np.concatenate([p[name] for p in parts]) for name in schema})
    log.info("sampled %d rows from %d files", sample.num_rows, len(paths))
    return sample

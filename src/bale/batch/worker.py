"""One file's task, run on a Dask worker: compress it, or find it done; and the options it gets.

Only paths and plain option values travel to the workers; each worker reads the model file
itself and checks it against the hash taken when the run started.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bale._version import __version__
from bale.batch.manifest import _sha256_file
from bale.errors import BaleInputError

_MESSAGE_CHARS = 300


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

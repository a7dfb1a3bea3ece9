"""What :func:`bale.batch.compress_many` reports: one :class:`FileResult` per input, and the totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["done", "skipped", "failed"]


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

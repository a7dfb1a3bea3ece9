"""Streaming: peak memory of compress and decompress does not grow with the size of a ROOT input.

Builds uncompressed ROOT files (TTree ``events``, the jagged Jet/Muon/Electron/Photon collections of
``uproot-HZZ.root`` with their counters NJet, NMuon, ... and the flat branches) of about ``--sizes`` MB
each by repeating the 2421 events of the shared ``uproot-HZZ.root``. Copy ``k`` has every float
multiplied by ``1 + 1e-6 * (k % 1000)`` (integers, bools and counters unchanged), so no two copies are
byte-identical. The files are written with ``uproot.recreate(..., compression=None)`` + ``mktree`` /
``extend`` (``bale.io.root_events.write_dataset`` always compresses), so the file holds the values
uncompressed, plus ROOT's per-event offsets of each jagged branch (bale's ``raw_bytes``, the bytes of the
values alone, are about 65% of the file size here).

One model is trained on the smallest file (``bale.train``, rel=1e-3, ``--epochs``) and saved. Then,
for every size, a fresh child process runs ``bale.compress(input, out.bale, model=...)`` and another
``bale.decompress(out.bale, out.root, model=...)``; each child reports its wall time inside the call
and its peak RSS (``VmHWM`` of ``/proc/self/status``, read at its end: ``ru_maxrss`` of a child can
inherit the parent's peak). The parent also samples the child's ``VmRSS`` every 0.2 s, to see whether
RSS climbs during the run. MB are 10^6 bytes; MB/s are of the input ROOT file size; "ratio" is the
input file size over the .bale size (the external model of ~45 kB not counted), "raw ratio" bale's own
``raw_bytes / file_bytes``.

The largest output is checked cheaply: same number of events and branch names as the input, and
the first and last ``--check-events`` events of a few branches (counts and integers equal, floats
within rel 1e-3).

    python benchmarks/streaming.py [--sizes 250 1000 2200] [--epochs 10] [--workers 2]
                                   [--workdir DIR] [--keep] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "uproot-HZZ.root"
TREE = "events"
REL = 1e-3
ERROR = f"rel={REL:g}"
COPIES_PER_EXTEND = 40  # copies of the 2421 events per uproot extend (one basket per branch): ~17 MB
CHECK_BRANCHES = ["NJet", "Jet_Px", "Jet_E", "Jet_ID", "NMuon", "Muon_Pz", "Muon_Charge", "Photon_Iso",
                  "MET_px", "MCleptonPDGid", "triggerIsoMu24", "EventWeight"]  # fmt: skip


# --- memory --------------------------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """The kB fields of ``/proc/PID/status`` (VmRSS, VmHWM, ...), as bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0]) * 1024
    return out


# --- inputs --------------------------------------------------------------------------------------


def load_source(path: Path) -> tuple[ak.Array, list[str], dict[str, str]]:
    """The tree as awkward arrays, its branch names in order, and collection -> counter."""
    import uproot

    with uproot.open(path) as f:
        tree = f[TREE]
        names = list(tree.keys())
        arrays = tree.arrays(library="ak")
        counters = {}
        for b in tree.branches:
            if b.count_branch is not None:
                counters[b.name.split("_", 1)[0]] = b.count_branch.name
    return arrays, names, counters


def build_block(arrays: ak.Array, names: list[str], counters: dict[str, str], first_copy: int, copies: int
                ) -> dict[str, Any]:  # fmt: skip
    """``copies`` copies of the events, copy k with floats times 1 + 1e-6 (k % 1000), as ``extend`` data."""
    factors = 1.0 + 1e-6 * (np.arange(first_copy, first_copy + copies) % 1000)
    n = len(arrays)
    per_event = np.repeat(factors, n)

    def tiled(name: str) -> Any:
        column = arrays[name]
        if column.ndim == 1:
            values = np.tile(ak.to_numpy(column), copies)
            if values.dtype.kind == "f":
                values = (values * per_event).astype(values.dtype)
            return values
        counts = np.tile(ak.to_numpy(ak.num(column, axis=1)), copies)
        flat = np.tile(ak.to_numpy(ak.flatten(column, axis=1)), copies)
        if flat.dtype.kind == "f":
            flat = (flat * np.repeat(per_event, counts)).astype(flat.dtype)
        return ak.unflatten(flat, counts)

    data: dict[str, Any] = {}
    grouped = {c: [b for b in names if b.startswith(c + "_")] for c in counters}
    counter_names = set(counters.values())
    for name in names:
        collection = name.split("_", 1)[0]
        if name in counter_names:
            continue
        if collection in counters:
            if collection not in data:
                data[collection] = ak.zip({b: tiled(b) for b in grouped[collection]})
        else:
            data[name] = tiled(name)
    return data


def write_input(source: Path, path: Path, target_bytes: int) -> dict[str, Any]:
    """An uncompressed ROOT file of at least ``target_bytes``, copies of ``source``'s events."""
    import uproot

    arrays, names, counters = load_source(source)
    started = time.perf_counter()
    copies = 0
    with uproot.recreate(path, compression=None) as f:
        tree = None
        while tree is None or os.path.getsize(path) < target_bytes:
            data = build_block(arrays, names, counters, copies, COPIES_PER_EXTEND)
            if tree is None:
                types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
                tree = f.mktree(
                    TREE, types,
                    counter_name=lambda collection: counters[collection],
                    field_name=lambda outer, inner: inner,  # keep Jet_Px, not Jet_Jet_Px
                )  # fmt: skip
            tree.extend(data)
            copies += COPIES_PER_EXTEND
            f.file.sink.flush()
    with uproot.open(path) as f:
        written = list(f[TREE].keys())
        entries = f[TREE].num_entries
    if sorted(written) != sorted(names):
        raise RuntimeError(f"branch names differ from the source: {sorted(set(written) ^ set(names))}")
    return {"path": str(path), "bytes": path.stat().st_size, "events": int(entries), "copies": copies,
            "seconds": round(time.perf_counter() - started, 2), "same_branch_order": written == names}  # fmt: skip


# --- children ------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Run one compress or decompress in this (fresh) process; print a JSON line with time and VmHWM."""
    import bale

    baseline = proc_status()
    started = time.perf_counter()
    if args.child == "compress":
        report = bale.compress(args.input, args.output, model=args.model, error=ERROR, workers=args.workers)
        extra = {"raw_bytes": report["raw_bytes"], "file_bytes": report["file_bytes"], "ratio": report["ratio"],
                 "chunks": report["chunks"], "rows": report["rows"]}  # fmt: skip
    else:
        bale.decompress(args.input, args.output, model=args.model, workers=args.workers)
        extra = {}
    seconds = time.perf_counter() - started
    status = proc_status()
    report = {"seconds": seconds, "vmhwm": status["VmHWM"], "vmrss_end": status["VmRSS"],
              "vmrss_after_import": baseline["VmRSS"], "vmhwm_after_import": baseline["VmHWM"], **extra}  # fmt: skip
    print(json.dumps(report))


def run_child(mode: str, src: Path, dst: Path, model: Path, workers: int) -> dict[str, Any]:
    """Start a child process, sample its VmRSS every 0.2 s, and return its JSON report plus the samples."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--input", str(src),
           "--output", str(dst), "--model", str(model), "--workers", str(workers)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # the child just ended
            samples.append((round(time.perf_counter() - started, 2), proc_status(proc.pid).get("VmRSS", 0)))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} of {src} failed ({proc.returncode}):\n{err[-4000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    report["process_seconds"] = round(time.perf_counter() - started, 2)
    report["rss_samples"] = samples
    return report


# --- check ---------------------------------------------------------------------------------------


def check_roundtrip(original: Path, restored: Path, events: int) -> dict[str, Any]:
    """First and last ``events`` events of :data:`CHECK_BRANCHES`: counts and ints equal, floats within REL."""
    import uproot

    worst = 0.0
    checked = 0
    with uproot.open(original) as fa, uproot.open(restored) as fb:
        ta, tb = fa[TREE], fb[TREE]
        if ta.num_entries != tb.num_entries:
            raise AssertionError(f"{ta.num_entries} events in, {tb.num_entries} out")
        if sorted(ta.keys()) != sorted(tb.keys()):
            raise AssertionError(f"branches differ: {sorted(set(ta.keys()) ^ set(tb.keys()))}")
        n = ta.num_entries
        for start, stop in ((0, min(events, n)), (max(0, n - events), n)):
            a = ta.arrays(CHECK_BRANCHES, entry_start=start, entry_stop=stop, library="ak")
            b = tb.arrays(CHECK_BRANCHES, entry_start=start, entry_stop=stop, library="ak")
            for name in CHECK_BRANCHES:
                x, y = a[name], b[name]
                if x.ndim > 1:
                    if not np.array_equal(ak.to_numpy(ak.num(x, axis=1)), ak.to_numpy(ak.num(y, axis=1))):
                        raise AssertionError(f"{name}: counts differ in events {start}-{stop}")
                    x, y = ak.flatten(x, axis=1), ak.flatten(y, axis=1)
                x, y = ak.to_numpy(x), ak.to_numpy(y)
                if x.dtype.kind == "f":
                    x64, y64 = x.astype(np.float64), y.astype(np.float64)
                    err = np.abs(y64 - x64)
                    bad = err > REL * np.abs(x64)
                    if bad.any():
                        i = int(np.argmax(bad))
                        raise AssertionError(f"{name}: {int(bad.sum())} values out of bound, e.g. {x[i]!r} -> {y[i]!r}")
                    nonzero = x64 != 0
                    if nonzero.any():
                        worst = max(worst, float((err[nonzero] / np.abs(x64[nonzero])).max()))
                elif not np.array_equal(x, y):
                    raise AssertionError(f"{name}: integer values differ in events {start}-{stop}")
                checked += len(x)
    return {"ok": True, "values_checked": checked, "max_rel_error": worst, "branches": CHECK_BRANCHES}


# --- main ----------------------------------------------------------------------------------------


def mb(n: float) -> float:
    return n / 1e6


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'input MB':>9} {'events':>10} | {'comp s':>7} {'MB/s':>6} {'peak MB':>8} | "
            f"{'decomp s':>8} {'MB/s':>6} {'peak MB':>8} | {'.bale MB':>8} {'ratio':>6} {'raw ratio':>9}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        c, d = r["compress"], r["decompress"]
        print(f"{mb(r['input_bytes']):9.1f} {r['events']:10d} | {c['seconds']:7.1f} {r['compress_mb_s']:6.1f} "
              f"{mb(c['vmhwm']):8.1f} | {d['seconds']:8.1f} {r['decompress_mb_s']:6.1f} {mb(d['vmhwm']):8.1f} | "
              f"{mb(r['bale_bytes']):8.2f} {r['ratio_file']:6.2f} {c['ratio']:9.2f}")  # fmt: skip


def rss_profile(samples: list[list[float]] | list[tuple[float, int]], parts: int = 10) -> list[float]:
    """Max VmRSS (MB) in each tenth of the run: flat if memory does not grow with progress."""
    if not samples:
        return []
    values = np.array([s[1] for s in samples], dtype=np.float64)
    return [round(mb(float(chunk.max())), 1) for chunk in np.array_split(values, min(parts, len(values)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[250, 1000, 2200], help="input sizes in MB")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of the one model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check-events", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=["compress", "decompress"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    import bale
    from bale.config import BaleConfig

    sizes = sorted(args.sizes)
    work = Path(tempfile.mkdtemp(prefix="bale-streaming-", dir=args.workdir or "/tmp"))
    print(f"working in {work}", flush=True)
    results: dict[str, Any] = {"source": str(args.data), "workers": args.workers, "epochs": args.epochs,
                               "perturbation": "floats of copy k times 1 + 1e-6 (k % 1000)", "runs": []}  # fmt: skip
    peak_disk = 0
    try:
        inputs = []
        for size in sizes:
            path = work / f"hzz_{int(size)}MB.root"
            built = write_input(args.data, path, int(size * 1e6))
            inputs.append(built)
            print(f"built {path.name}: {mb(built['bytes']):.1f} MB, {built['events']} events "
                  f"({built['copies']} copies) in {built['seconds']} s", flush=True)  # fmt: skip
        results["inputs"] = inputs

        model_path = work / "hzz.model"
        cfg = BaleConfig()
        cfg.train.epochs = args.epochs
        started = time.perf_counter()
        model = bale.train(inputs[0]["path"], error=ERROR, config=cfg)
        bale.save_model(model, model_path)
        seconds = round(time.perf_counter() - started, 1)
        trained_on = inputs[0]["path"]
        results["model"] = {"bytes": model_path.stat().st_size, "train_seconds": seconds, "trained_on": trained_on}
        print(f"trained the model on {Path(inputs[0]['path']).name} in {results['model']['train_seconds']} s "
              f"({results['model']['bytes']} bytes)", flush=True)  # fmt: skip
        del model

        rows = []
        for i, built in enumerate(inputs):
            src = Path(built["path"])
            packed = src.with_suffix(".bale")
            restored = src.with_name(src.stem + "_out.root")
            comp = run_child("compress", src, packed, model_path, args.workers)
            print(f"  compress {src.name}: {comp['seconds']:.1f} s, VmHWM {mb(comp['vmhwm']):.0f} MB", flush=True)
            dec = run_child("decompress", packed, restored, model_path, args.workers)
            print(f"  decompress {packed.name}: {dec['seconds']:.1f} s, VmHWM {mb(dec['vmhwm']):.0f} MB", flush=True)
            peak_disk = max(peak_disk, du(work))
            row = {
                "input": src.name,
                "input_bytes": built["bytes"],
                "events": built["events"],
                "bale_bytes": packed.stat().st_size,
                "restored_root_bytes": restored.stat().st_size,
                "ratio_file": built["bytes"] / packed.stat().st_size,
                "compress_mb_s": mb(built["bytes"]) / comp["seconds"],
                "decompress_mb_s": mb(built["bytes"]) / dec["seconds"],
                "compress": {k: v for k, v in comp.items() if k != "rss_samples"},
                "decompress": {k: v for k, v in dec.items() if k != "rss_samples"},
                "compress_rss_profile_mb": rss_profile(comp["rss_samples"]),
                "decompress_rss_profile_mb": rss_profile(dec["rss_samples"]),
            }
            if i == len(inputs) - 1:
                row["check"] = check_roundtrip(src, restored, args.check_events)
                print(f"  check of {restored.name}: {row['check']}", flush=True)
            rows.append(row)
            if not args.keep:  # the outputs of this size are no longer needed
                restored.unlink()
        results["runs"] = rows
        results["peak_disk_bytes"] = peak_disk

        print()
        print_table(rows)
        print()
        print("VmRSS (MB), max per tenth of each run:")
        for r in rows:
            print(f"  {r['input']:>18} compress   {r['compress_rss_profile_mb']}")
            print(f"  {r['input']:>18} decompress {r['decompress_rss_profile_mb']}")
        peaks = [max(r["compress"]["vmhwm"], r["decompress"]["vmhwm"]) for r in rows]
        growth = mb(peaks[-1] - peaks[0])
        print(f"\npeak RSS {mb(peaks[0]):.0f} MB at {mb(rows[0]['input_bytes']):.0f} MB of input, "
              f"{mb(peaks[-1]):.0f} MB at {mb(rows[-1]['input_bytes']):.0f} MB (growth {growth:+.0f} MB); "
              f"goal < 2000 MB: {'met' if max(peaks) < 2e9 else 'NOT met'}")  # fmt: skip
        print(f"disk used at most: {mb(peak_disk):.0f} MB in {work}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

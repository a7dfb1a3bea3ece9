"""Core benchmark of bale: round trips of the shared tables, where the bytes go, and throughput.

Every value of every column is checked after decompression (floats at rel=1e-3, integers exact); ratios
count every byte of the .bale file, the embedded model included. The peers come from
``benchmarks/classical.py`` (every byte counted and every value checked there too): every classical method
of ``bale bench`` (lossless, BitRound + zstd/blosc2/pcodec, pcodec, SZ3, ZFP, fpzip) runs on every table in
the same run, and "best classical" is the best of them that met the bound.

Section 1c, "what each part earns", codes every flat table four times: (a) classical coding alone
(no relations, no network, no residual contexts), (b) relations + classical, (c) + residual contexts,
(d) the default model with its network; the network's share is (d) / (c) − 1.

    python benchmarks/core.py [--data-dir DIR] [--tables NAME ...] [--extra NAME=PATH ...]
                              [--errors rel=1e-3 ...] [--table-rows N] [--no-ladder]
                              [--rows N] [--quick] [--skip-throughput] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bale
import classical
from bale.bounds import Bound, check_bound
from bale.config import BaleConfig

REL = 1e-3
ERROR = f"rel={REL:g}"
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# name -> (file, ROOT tree)
TABLES = {
    "pythia_ttbar_jets": ("pythia_ttbar_jets.parquet", None),
    "pythia_qcd_jets": ("pythia_qcd_jets.parquet", None),
    "pythia_ttbar_particles": ("pythia_ttbar_particles.parquet", None),
    "uproot-Zmumu": ("uproot-Zmumu.root", "events"),
    "CFD_animation": ("CFD_animation.npz", None),
    "CFD_still": ("CFD_still.npz", None),
    "nanoAOD_flat": ("nanoAOD_2015_CMS_Open_Data_ttbar.root", "Events"),
    "uproot-HZZ_flat": ("uproot-HZZ.root", "events"),
    # whole trees with jagged collections: a main table plus one table per collection
    "nanoAOD_events": ("nanoAOD_2015_CMS_Open_Data_ttbar.root", "Events"),
    "uproot-HZZ_events": ("uproot-HZZ.root", "events"),
    "physlite_rntuple": ("uproot-physlite-rntuple_v1-0-0-0.root", "EventData"),
}
JAGGED = {"nanoAOD_events", "uproot-HZZ_events", "physlite_rntuple"}
SKIPPED: dict[str, str] = {}
NAMED = list(classical.CLASSICAL)  # "best classical": the best of every peer that met the bound in this run
SZ3 = "sz3-log-nopred"
THROUGHPUT_TABLE = "pythia_ttbar_jets"


def load_jagged_reference(path: Path, tree: str) -> dict[str, np.ndarray]:
    """Every numeric branch (flat) or list of numbers (jagged, flattened) of a TTree or RNTuple, read without bale."""
    import awkward as ak
    import uproot

    t = uproot.open(path)[tree]
    arrays = t.arrays(library="ak")
    out = {}
    for name in ak.fields(arrays):
        tp = arrays[name].type.content
        if isinstance(tp, ak.types.ListType) and isinstance(tp.content, ak.types.NumpyType):
            out[name] = ak.to_numpy(ak.flatten(arrays[name], axis=1))
        elif isinstance(tp, ak.types.NumpyType):
            out[name] = ak.to_numpy(arrays[name])
    return {k: np.ascontiguousarray(v.astype(v.dtype.newbyteorder("="))) for k, v in out.items()}


def load_reference(path: Path, tree: str | None) -> dict[str, np.ndarray]:
    """The numeric columns of ``path``, read without bale (so bale's readers are checked too)."""
    if path.suffix == ".parquet":
        return classical.read_parquet_numeric(str(path))
    if path.suffix == ".root":
        import uproot

        t = uproot.open(path)[tree]
        names = [b.name for b in t.branches
                 if isinstance(b.interpretation, uproot.AsDtype) and not b.interpretation.inner_shape]
        return {k: v.astype(v.dtype.newbyteorder("=")) for k, v in t.arrays(names, library="np").items()}
    with np.load(path, allow_pickle=False) as z:  # .npz: member, or member_<i> for trailing dims flattened
        arrays = {k: z[k] for k in z.files if z[k].dtype.kind in "biuf" and z[k].size}
    n = max(a.shape[0] for a in arrays.values())
    out = {}
    for k, a in arrays.items():
        if a.ndim == 1:
            out[k] = a
        else:
            flat = a.reshape(n, -1)
            out.update({f"{k}_{i}": np.ascontiguousarray(flat[:, i]) for i in range(flat.shape[1])})
    return out


def set_error(error: str) -> None:
    """The relative bound every section uses (``rel=X``)."""
    global REL, ERROR
    mode, _, value = error.partition("=")
    if mode != "rel":
        raise SystemExit(f"--errors: relative bounds only (rel=X), got {error!r}")
    REL = float(value)
    ERROR = f"rel={REL:g}"


def bound_of(a: np.ndarray) -> Bound:
    return Bound("rel", REL) if a.dtype.kind == "f" else Bound("exact")


def count_violations(ref: dict[str, np.ndarray], decoded: dict[str, np.ndarray]) -> tuple[int, list[str]]:
    total, problems = 0, []
    for name, a in ref.items():
        b = decoded.get(name)
        if b is None or b.shape != a.shape:
            total += a.size
            problems.append(f"{name}: missing or wrong shape")
            continue
        if b.dtype != a.dtype:
            problems.append(f"{name}: dtype {a.dtype} -> {b.dtype}")
        bad = check_bound(a, b, bound_of(a))
        if bad:
            problems.append(f"{name}: {bad} violations")
        total += bad
    extra = sorted(set(decoded) - set(ref))
    if extra:
        problems.append(f"unexpected columns {extra[:5]}")
    return total, problems


def classical_by_length(ref: dict[str, np.ndarray]) -> dict[str, dict]:
    """Classical methods on columns of different lengths (the event table and each collection): summed."""
    groups: dict[int, dict[str, np.ndarray]] = {}
    for name, values in ref.items():
        groups.setdefault(len(values), {})[name] = values
    total: dict[str, dict] = {}
    for columns in groups.values():
        for method, r in classical.classical_sizes(columns, rel=REL).items():
            t = total.setdefault(method, {"bytes": 0, "ok": True, "compress_s": 0.0, "decompress_s": 0.0})
            t["ok"] = t["ok"] and bool(r.get("ok"))
            t["bytes"] += r.get("bytes") or 0
            for key in ("compress_s", "decompress_s"):
                t[key] += r.get(key) or 0.0
            if r.get("error"):
                t["error"] = r["error"]
    return total


def best_named(res: dict[str, dict]) -> tuple[str | None, int | None]:
    ok = [(r["bytes"], k) for k, r in res.items() if k in NAMED and r.get("ok") and r.get("bytes")]
    return (min(ok)[1], min(ok)[0]) if ok else (None, None)


def ladder_configs() -> dict[str, BaleConfig]:
    """(a) classical coding alone, (b) relations + classical, (c) + residual contexts, (d) the default:
    all four from the same columns.

    (d) is coded again from the columns in memory rather than taken from the round trip, which
    reads the file itself and so also keeps a ROOT file's branch titles and types in the header.
    """
    classical_only, relations, contexts = BaleConfig(), BaleConfig(), BaleConfig()
    classical_only.model.relations = classical_only.model.learned = classical_only.model.contexts = False
    relations.model.learned = relations.model.contexts = False
    contexts.model.learned = False
    return {"classical": classical_only, "relations": relations, "contexts": contexts, "full": BaleConfig()}


def ladder(ref: dict[str, np.ndarray], tmp: Path) -> dict:
    """Ratios of the same table under (a) classical, (b) relations, (c) + contexts, (d) the full model."""
    raw = sum(v.nbytes for v in ref.values())
    out: dict = {}
    for step, cfg in ladder_configs().items():
        path = tmp / f"ladder-{step}.bale"
        t0 = time.perf_counter()
        report = bale.compress(ref, path, error=ERROR, config=cfg)
        viol, _ = count_violations(ref, bale.decompress(path).columns)
        out[step] = {"ratio": raw / report["file_bytes"], "file_bytes": report["file_bytes"], "violations": viol,
                     "seconds": round(time.perf_counter() - t0, 2),
                     "bits_per_value": {k: c["bits_per_value"] for k, c in report["per_column"].items()}}
        path.unlink()
    out["relations_share"] = out["relations"]["ratio"] / out["classical"]["ratio"] - 1
    out["contexts_share"] = out["contexts"]["ratio"] / out["relations"]["ratio"] - 1
    out["network_share"] = out["full"]["ratio"] / out["contexts"]["ratio"] - 1
    return out


def roundtrip(name: str, data_dir: Path, tmp: Path, table_rows: int | None = None, with_ladder: bool = True) -> dict:
    file, tree = TABLES[name]
    path = data_dir / file
    jagged = name in JAGGED
    ref = load_jagged_reference(path, tree) if jagged else load_reference(path, tree)
    source: object = path
    if table_rows is not None and not jagged:  # the first rows of a flat table, passed in memory
        ref = {k: np.ascontiguousarray(v[:table_rows]) for k, v in ref.items()}
        source, tree = ref, None
    out = tmp / f"{name}.bale"
    t0 = time.perf_counter()
    # every branch of a whole tree (the plain command); the RNTuple's fields the reference reads (bale codes more)
    columns = None if jagged and name != "physlite_rntuple" else list(ref)
    # the CFD rows are the table view of the fields on purpose (their grid numbers: benchmarks/grids.py)
    report = bale.compress(source, out, error=ERROR, columns=columns, tree=tree,
                           config=BaleConfig(), kind="table")
    wall_c = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = bale.decompress(out)
    wall_d = time.perf_counter() - t0
    columns = ({c: v for t in decoded.tables.values() for c, v in t.columns.items()} if jagged
               else decoded.columns)
    if jagged:  # counters bale adds to an RNTuple are not data
        columns = {c: v for c, v in columns.items() if c in ref}
    viol, problems = count_violations(ref, columns)
    info = bale.info(out)
    raw = sum(v.nbytes for v in ref.values())
    cl = classical_by_length(ref) if jagged else classical.classical_sizes(ref, rel=REL)
    best, best_bytes = best_named(cl)
    sz3 = cl.get(SZ3, {})
    steps = ladder(ref, tmp) if with_ladder and not jagged else None
    return {
        "table": name, "file": file, "rows": info["rows"], "columns": len(ref), "raw_bytes": raw,
        "bale_raw_bytes": info["raw_bytes"], "file_bytes": info["file_bytes"], "violations": viol,
        "problems": problems, "ratio": raw / info["file_bytes"],  # raw as read without bale (no added counters)
        "ratio_without_model": info.get("ratio_without_model"),
        "train_s": report["seconds"]["train"], "code_s": report["seconds"]["compress"],
        "compress_wall_s": round(wall_c, 3), "decompress_s": round(wall_d, 3),
        "best_classical": best, "best_classical_ratio": raw / best_bytes if best_bytes else None,
        "bale_over_best": raw / info["file_bytes"] / (raw / best_bytes) if best_bytes else None,
        "sz3_ratio": raw / sz3["bytes"] if sz3.get("ok") and sz3.get("bytes") else None,
        "classical": {k: {kk: r.get(kk) for kk in ("bytes", "ok", "compress_s", "decompress_s", "error")}
                      for k, r in cl.items()},
        "info": info, "error": ERROR, "ladder": steps,
    }


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_roundtrips(rows: list[dict], errors: dict[str, str]) -> None:
    print(f"\n== 1. Round trips at {ERROR} (floats) / exact (integers), default config, model embedded ==")
    print(f"{'table':<24}{'rows':>9}{'cols':>6}{'raw MB':>9}{'viol':>6}{'ratio':>8}{'no model':>9}"
          f" {'best classical (method)':>38}{'bale/best':>10}{'SZ3 (ref)':>10}{'train s':>9}{'code s':>8}"
          f"{'decomp s':>9}")
    for r in rows:
        best = f"{fmt(r['best_classical_ratio'])} ({r['best_classical']})"
        print(f"{r['table']:<24}{r['rows']:>9,}{r['columns']:>6}{r['raw_bytes'] / 1e6:>9.2f}{r['violations']:>6}"
              f"{fmt(r['ratio']):>8}{fmt(r['ratio_without_model']):>9} {best:>38}{fmt(r['bale_over_best']):>10}"
              f"{fmt(r['sz3_ratio']):>10}{r['train_s']:>9.1f}{r['code_s']:>8.2f}{r['decompress_s']:>9.2f}")
        for p in r["problems"][:10]:
            print(f"    !! {p}")
        failed = [k for k, c in r["classical"].items() if not c["ok"]]
        if failed:
            print(f"    note: classical methods failed or missed the bound: {', '.join(failed)}")
    print("ratio = raw bytes / .bale file bytes (header, model, index: every byte); 'no model' leaves out the "
          f"embedded model.\nbest classical = best of every peer that met the bound ({len(NAMED)} methods, "
          f"section 1b); SZ3 (ref) = {SZ3}.")
    for name, err in errors.items():
        print(f"FAILED {name}: {err}")
    for f, why in SKIPPED.items():
        print(f"skipped {f}: {why}")


def print_peers(rows: list[dict]) -> None:
    """Every peer's ratio on every table, bale's beside them, and bale over each."""
    names = [m for m in NAMED if any(m in r["classical"] for r in rows)]
    if not rows or not names:
        return
    print(f"\n== 1b. Every peer at {ERROR} (floats) / exact (integers): ratio; bale / peer in brackets ==")
    print("'x': missed the bound or failed; '-': not run (library missing, or not applicable)")
    for r in rows:
        print(f"{r['table']}: bale {fmt(r['ratio'])}")
        cells = []
        for m in names:
            c = r["classical"].get(m)
            if c is None or (c.get("error") and not c.get("bytes")):
                cells.append(f"{m} -")
            elif not c["ok"]:
                cells.append(f"{m} x")
            else:
                peer = r["raw_bytes"] / c["bytes"]
                cells.append(f"{m} {peer:.3f} ({r['ratio'] / peer:.2f})")
        for i in range(0, len(cells), 4):
            print("    " + "; ".join(cells[i:i + 4]))


def print_ladder(rows: list[dict]) -> None:
    """(a) classical alone, (b) + relations, (c) + residual contexts, (d) the full model: what each part earns."""
    rows = [r for r in rows if r.get("ladder")]
    if not rows:
        return
    print("\n== 1c. What each part earns: ratio of (a) classical coding alone, (b) relations + classical, "
          "(c) + residual contexts, (d) the full model ==")
    print(f"{'table':<24}{'bound':>10}{'(a) classical':>15}{'(b) +relations':>16}{'(c) +contexts':>15}"
          f"{'(d) +network':>14}{'relations':>11}{'contexts':>10}{'network':>9}{'viol':>6}")
    steps = ("classical", "relations", "contexts", "full")
    for r in rows:
        s = r["ladder"]
        viol = sum(s[k]["violations"] for k in steps)
        print(f"{r['table']:<24}{r['error']:>10}{s['classical']['ratio']:>15.3f}{s['relations']['ratio']:>16.3f}"
              f"{s['contexts']['ratio']:>15.3f}{s['full']['ratio']:>14.3f}{100 * s['relations_share']:>10.1f}%"
              f"{100 * s['contexts_share']:>9.1f}%{100 * s['network_share']:>8.1f}%{viol:>6}")
    print("relations = (b)/(a) − 1; contexts = (c)/(b) − 1; network = (d)/(c) − 1, the learned share over "
          "relations, contexts and classical coding. Every byte counted (model embedded).")
    for r in rows:
        s = r["ladder"]
        full, before = s["full"]["bits_per_value"], s["contexts"]["bits_per_value"]
        moved = [f"{k} {before[k]:.2f}->{full[k]:.2f}" for k in full if k in before and full[k] < before[k] - 0.05]
        if moved:
            print(f"  {r['table']} {r['error']}: network's gains, bits/value (c)->(d): {', '.join(moved)}")


def print_bytes(r: dict) -> None:
    info = r["info"]
    print(f"\n== 2. Where the bytes go: {r['table']} ({info['rows']:,} rows, {info['file_bytes']:,} bytes) ==")
    print(f"{'column':<16}{'bound':>11}{'predictor':>11}{'bytes':>11}{'bits/value':>11}")
    for name, c in info["per_column"].items():
        print(f"{name:<16}{c['bound']:>11}{c['predictor']:>11}{c['bytes']:>11,}{c['bits_per_value']:>11.3f}")
    print(f"{'group':<27}{'bytes':>11}{'share':>8}")
    for group, size in info["bytes"].items():
        print(f"{group:<27}{size:>11,}{100 * size / info['file_bytes']:>7.1f}%")


# -- throughput: each step in a fresh process --------------------------------------------------------------


def peak_rss_kb() -> dict[str, int]:
    """ru_maxrss and VmHWM (KB, Linux). ru_maxrss of an exec'd child starts at the parent's high-water mark
    (Linux records the parent's mm hiwater on exec after vfork), so VmHWM is the child's own peak."""
    hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return {"ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "vmhwm_kb": hwm}


def child(step: str, work: str) -> None:
    w = Path(work)
    if step == "compress":
        with np.load(w / "input.npz") as z:
            table = {k: z[k] for k in z.files}
        # the first call in a process loads numba's compiled kernels (once, ~0.25 s): timed apart
        t0 = time.perf_counter()
        bale.compress({k: v[:1000] for k, v in table.items()}, w / "warm.bale", model=w / "model.bin")
        warm_up = time.perf_counter() - t0
        base = peak_rss_kb()
        t0 = time.perf_counter()
        report = bale.compress(table, w / "out.bale", model=w / "model.bin")
        seconds = time.perf_counter() - t0
        result = {"seconds": seconds, "ratio": report["ratio"], "file_bytes": report["file_bytes"]}
    else:
        t0 = time.perf_counter()
        bale.decompress(w / "warm.bale", model=w / "model.bin")
        warm_up = time.perf_counter() - t0
        base = peak_rss_kb()
        t0 = time.perf_counter()
        decoded = bale.decompress(w / "out.bale", model=w / "model.bin")
        seconds = time.perf_counter() - t0
        result = {"seconds": seconds}
    result.update(peak=peak_rss_kb(), base=base, warm_up_s=warm_up)
    if step == "decompress":  # after the peak was read
        with np.load(w / "input.npz") as z:
            result["violations"] = count_violations({k: z[k] for k in z.files}, decoded.columns)[0]
    print(json.dumps(result))


def run_child(step: str, work: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", step, str(work)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{step} step failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


SPEED_PEERS = {"bitround-pcodec": "BitRound + pcodec"}  # the fastest peer near bale's ratio (issue 19's yardstick)


def throughput(data_dir: Path, rows: int, tmp: Path) -> dict:
    src = classical.read_parquet_numeric(str(data_dir / TABLES[THROUGHPUT_TABLE][0]))
    n = len(next(iter(src.values())))
    table = {k: np.tile(v, -(-rows // n))[:rows] for k, v in src.items()}
    raw_mb = sum(v.nbytes for v in table.values()) / 1e6
    t0 = time.perf_counter()
    model = bale.train(table, error=ERROR, config=BaleConfig())
    train_s = time.perf_counter() - t0
    bale.save_model(model, tmp / "model.bin")
    np.savez(tmp / "input.npz", **table)
    comp = run_child("compress", tmp)
    dec = run_child("decompress", tmp)
    peers = {name: {"compress_mb_s": raw_mb / r["compress_s"], "decompress_mb_s": raw_mb / r["decompress_s"]}
             for name, r in classical.classical_sizes(table, rel=REL, methods=list(SPEED_PEERS)).items()
             if r.get("ok")}  # fmt: skip
    return {"table": THROUGHPUT_TABLE, "rows": rows, "raw_mb": raw_mb, "train_s": train_s, "peers": peers,
            "compress_s": comp["seconds"], "decompress_s": dec["seconds"],
            "compress_mb_s": raw_mb / comp["seconds"], "decompress_mb_s": raw_mb / dec["seconds"],
            "ratio_external_model": comp["ratio"], "model_bytes": len(model.to_bytes()),
            "violations": dec["violations"], "compress_rss": comp, "decompress_rss": dec}


def print_throughput(t: dict) -> None:
    print(f"\n== 3. Throughput: {t['table']} tiled to {t['rows']:,} rows ({t['raw_mb']:.1f} MB raw), "
          f"external model ({t['model_bytes']:,} bytes) ==")
    print(f"train once: {t['train_s']:.1f} s (not in the rates below)")
    print(f"{'step':<12}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}{'before MB':>11}{'ru_maxrss MB':>14}"
          f"{'first call s':>14}")
    for step in ("compress", "decompress"):
        r = t[f"{step}_rss"]
        print(f"{step:<12}{t[f'{step}_s']:>9.2f}{t[f'{step}_mb_s']:>9.1f}{r['peak']['vmhwm_kb'] / 1e3:>13.0f}"
              f"{r['base']['vmhwm_kb'] / 1e3:>11.0f}{r['peak']['ru_maxrss_kb'] / 1e3:>14.0f}{r['warm_up_s']:>14.2f}")
    print(f"ratio {t['ratio_external_model']:.3f} (model not embedded), violations {t['violations']}")
    for name, p in t.get("peers", {}).items():
        print(f"{SPEED_PEERS[name]} on the same table in this run (one thread, in this process): compress "
              f"{p['compress_mb_s']:.0f} MB/s, decompress {p['decompress_mb_s']:.0f} MB/s; bale at "
              f"{t['compress_mb_s'] / p['compress_mb_s']:.2f}x and {t['decompress_mb_s'] / p['decompress_mb_s']:.2f}x")
    print("'first call': a 1,000-row file coded first in the same process; it loads numba's compiled kernels "
          "(once per process).")
    print("each step runs in a fresh process; peak RSS = VmHWM of that process, 'before' = after imports and "
          "loading the input;\nru_maxrss of a child started by subprocess/spawn inherits the parent's peak on "
          f"Linux, shown for reference.\nmachine: {os.cpu_count()} cores "
          f"(bale trains with {BaleConfig().train.threads} torch thread(s)).")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--tables", nargs="*", default=None,
                    help=f"of {', '.join(TABLES)} (default all; none: only --extra)")
    ap.add_argument("--extra", nargs="+", default=[], metavar="NAME=PATH",
                    help="more flat tables (Parquet, ROOT TTree or .npz), run after --tables")
    ap.add_argument("--errors", nargs="+", default=[f"rel={REL:g}"], metavar="rel=X",
                    help="relative bounds of the round trips (each table at each bound)")
    ap.add_argument("--table-rows", type=int, default=None, metavar="N",
                    help="only the first N rows of each flat table in the round trips")
    ap.add_argument("--no-ladder", action="store_true", help="skip section 1c (classical / relations / network)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the throughput table")
    ap.add_argument("--quick", action="store_true", help=f"only {THROUGHPUT_TABLE}, 200k rows of throughput")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    ap.add_argument("--child", nargs=2, metavar=("STEP", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        child(*args.child)
        return
    tables = list(TABLES) if args.tables is None else args.tables
    if unknown := [t for t in tables if t not in TABLES]:
        ap.error(f"unknown tables {unknown}: choose from {', '.join(TABLES)}")
    for item in args.extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--extra wants NAME=PATH, got {item!r}")
        TABLES[name] = (str(Path(path).resolve()), None)  # an absolute path: data_dir / path is path
        tables.append(name)
    if args.quick:
        tables, args.rows = [THROUGHPUT_TABLE], 200_000
    print(f"bale {bale.__version__}, data {args.data_dir}, {os.cpu_count()} cores"
          + (f", first {args.table_rows:,} rows of each flat table" if args.table_rows else ""))
    results: dict = {"version": bale.__version__, "errors_bounds": args.errors, "roundtrips": [],
                     "skipped": SKIPPED, "errors": {}, "table_rows": args.table_rows}
    with tempfile.TemporaryDirectory(prefix="bale-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for error in args.errors:
            set_error(error)
            rows: list[dict] = []
            failed: dict[str, str] = {}
            for name in tables:
                t0 = time.perf_counter()
                try:
                    rows.append(roundtrip(name, args.data_dir, tmp, args.table_rows, not args.no_ladder))
                except Exception as exc:  # report and go on with the other tables
                    failed[name] = f"{type(exc).__name__}: {exc}"
                    results["errors"][f"{name} {error}"] = failed[name]
                print(f"  {name} {error}: {'FAILED' if name in failed else 'done'} in "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
            results["roundtrips"] += rows
            print_roundtrips(rows, failed)
            print_peers(rows)
            print_ladder(rows)
            jets = [r for r in rows if r["table"] == "pythia_ttbar_jets"]
            if jets:
                print_bytes(jets[0])
        set_error(args.errors[0])
        if not args.skip_throughput:
            (tmp / "tp").mkdir()
            try:
                results["throughput"] = throughput(args.data_dir, args.rows, tmp / "tp")
                print_throughput(results["throughput"])
            except Exception as exc:
                results["errors"]["throughput"] = f"{type(exc).__name__}: {exc}"
                print(f"\n== 3. Throughput FAILED: {results['errors']['throughput']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

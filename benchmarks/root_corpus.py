"""Round trips of ROOT files bale did not write: the scikit-hep-testdata corpus and the shared ROOT files.

    python benchmarks/root_corpus.py [--corpus DIR] [--out-dir DIR] [--timeout S] [--jobs N]
                                     [--only GLOB ...] [--shared-data DIR] [--keep DIR] [--markdown-only]

Each file goes through bale's Python API in a subprocess of its own (a file may hang or crash it):
``bale.compress(file, tmp.bale, error="rel=1e-3", config=<model.learned = false>)`` then
``bale.decompress(tmp.bale, out.root)``. The output is then checked with uproot alone, tree by tree and
branch by branch, against the original: every tree (TTree, TNtuple, RNTuple) of the original must be in
the output under the same path with the same number of entries; every leaf branch (sub-branches of split
objects included; RNTuple: top-level fields) must be there, with equal counts at every jagged level,
integers, bools and strings exactly equal, floats within ``|x' - x| <= 1e-3 |x|`` (NaN where NaN, ±inf
exact). Each tree, and each file (its worst tree), ends as:

* ``ok``: every branch round-trips;
* ``partial``: some branches (or trees) are missing, and bale named them in a logged warning;
* ``refused``: bale raised one of its own errors (``BaleError``: one line, recorded), nothing written;
* ``failed``: any other exception (traceback recorded), a timeout, a crash, bale refusing its own output,
  or a silent change: a branch or tree missing without a warning naming it, other entries, other counts,
  a value beyond the bound.

The corpus: ``--corpus DIR`` (every ``*.root`` below it), else the data folder of an installed
``skhep_testdata`` if it holds ROOT files, else ``scikit-hep-testdata==0.3.12`` (the last release that
ships its files) fetched with ``pip download`` into ``~/.cache/bale/root_corpus`` and unpacked; plus
``../shared/data/*.root`` when that folder exists. Results go to ``--out-dir`` (default ``out/root_corpus``,
ignored by git): ``root_corpus.json`` (everything, tracebacks included) and ``root_corpus.md`` (one row
per tree, totals, the distinct reasons). About 5 minutes for the 146 files with ``--jobs 2`` on 2 cores.

While the source changes under you, check a fixed commit from a copy::

    git archive HEAD src | tar -x -C /tmp/snap && BALE_SOURCE_COMMIT=$(git rev-parse --short HEAD) \\
        PYTHONPATH=/tmp/snap/src python benchmarks/root_corpus.py
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import fnmatch
import importlib.util
import inspect
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "out" / "root_corpus"
SKHEP = "scikit-hep-testdata==0.3.12"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bale" / "root_corpus"
REL = 1e-3
ERROR = f"rel={REL:g}"
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple", "ROOT::Experimental::RNTuple")
STATUSES = ("ok", "partial", "refused", "failed")
MAX_PROBLEMS = 20  # per tree, in the JSON

log = logging.getLogger("root_corpus")


# ---------------------------------------------------------------------------------------------------------
# the corpus


def _root_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.root") if p.is_file())


def _unpack(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    else:
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")


def _download_skhep() -> Path:
    """scikit-hep-testdata 0.3.12 in the cache (pip download, unpacked, the archive removed): its data folder."""
    unpacked = CACHE / "scikit-hep-testdata-0.3.12"
    if not (unpacked.is_dir() and _root_files(unpacked)):
        download = CACHE / "download"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        log.info("downloading %s into %s", SKHEP, download)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", SKHEP, "-d", str(download)]
        subprocess.run(cmd, check=True)
        archives = sorted(p for p in download.iterdir() if p.name.lower().startswith(("scikit_hep", "scikit-hep")))
        if not archives:
            raise SystemExit(f"pip download gave no archive of {SKHEP} in {download}")
        shutil.rmtree(unpacked, ignore_errors=True)
        _unpack(archives[0], unpacked)
        shutil.rmtree(download, ignore_errors=True)
    data = sorted(unpacked.rglob("skhep_testdata/data"))
    return data[0] if data else unpacked


def corpus_files(corpus: Path | None, shared: Path | None) -> list[tuple[str, Path]]:
    """(label, path) of every ROOT file to check; labels are unique (``skhep/NAME``, ``shared/NAME``)."""
    if corpus is None:
        spec = importlib.util.find_spec("skhep_testdata")
        folder = None
        if spec is not None and spec.origin:
            data = Path(spec.origin).parent / "data"
            if data.is_dir() and _root_files(data):
                folder = data
        corpus = folder or _download_skhep()
    files = [(f"skhep/{p.relative_to(corpus).as_posix()}", p) for p in _root_files(corpus)]
    if not files:
        raise SystemExit(f"no .root files under {corpus}")
    if shared is not None and shared.is_dir():
        files += [(f"shared/{p.name}", p) for p in sorted(shared.glob("*.root"))]
    return files


# ---------------------------------------------------------------------------------------------------------
# the child: one file, compressed, decompressed and compared


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(f"{record.name}: {record.getMessage()}")
        except Exception as exc:  # a record that cannot be formatted still counts
            self.messages.append(f"{record.name}: {record.msg!r} ({exc})")


def _trees(f: Any) -> dict[str, str]:
    return {k: v for k, v in f.classnames(recursive=True, cycle=False).items() if v in TREE_CLASSES}


def _is_rntuple(obj: Any) -> bool:
    return "RNTuple" in type(obj).__name__


def _units(obj: Any) -> list[dict[str, Any]]:
    """What is compared in a tree: TTree leaf branches (sub-branches of split objects included), RNTuple fields."""
    if _is_rntuple(obj):
        return [{"name": f.name, "keys": [f.name], "top": f.name, "obj": f} for f in obj.fields]
    units = []
    for b in obj.values(recursive=True):
        if b.branches:
            continue
        path = b.object_path.split(":", 1)[-1] if ":" in b.object_path else b.name
        top = b
        while top.parent is not None and top.parent is not obj and hasattr(top.parent, "parent"):
            top = top.parent
        units.append({"name": path, "keys": list(dict.fromkeys([path, b.name])), "top": top.name, "obj": b})
    return units


def _norm(name: str) -> str:
    return "~" + re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def _output_index(obj: Any) -> dict[str, Any]:
    """Every name an output branch or field answers to (exact, and normalized with ``~``) -> the branch/field."""
    index: dict[str, Any] = {}
    if _is_rntuple(obj):
        for f in obj.fields:
            index.setdefault(f.name, f)
        for key in obj.keys():  # noqa: SIM118 - nested fields too
            try:
                index.setdefault(key, obj[key])
            except Exception:
                continue
    else:
        for b in obj.values(recursive=True):
            path = b.object_path.split(":", 1)[-1] if ":" in b.object_path else b.name
            index.setdefault(path, b)
            index.setdefault(b.name, b)
    for key, target in list(index.items()):
        index.setdefault(_norm(key), target)
    return index


def _find(index: dict[str, Any], keys: list[str]) -> Any:
    for k in keys:
        if k in index:
            return index[k]
    for k in keys:
        if _norm(k) in index:
            return index[_norm(k)]
    return None


def _read(obj: Any) -> Any:
    return obj.array(library="ak")


def _compare(a: Any, b: Any, where: str, problems: list[str]) -> None:
    """Append what differs between the original ``a`` and the output ``b`` (awkward arrays of equal length)."""
    import awkward as ak
    import numpy as np

    if len(a) != len(b):
        problems.append(f"{where}: {len(a)} values, output {len(b)}")
        return
    ta, tb = a.type.content, b.type.content
    if isinstance(ta, ak.types.OptionType) or isinstance(tb, ak.types.OptionType):
        na, nb = ak.to_numpy(ak.is_none(a, axis=0)), ak.to_numpy(ak.is_none(b, axis=0))
        if not np.array_equal(na, nb):
            problems.append(f"{where}: missing values at other places")
            return
        _compare(ak.drop_none(a, axis=0), ak.drop_none(b, axis=0), where, problems)
        return
    if ta.parameter("__array__") in ("string", "bytestring") or tb.parameter("__array__") in ("string", "bytestring"):
        if ak.to_list(a) != ak.to_list(b):
            problems.append(f"{where}: strings differ")
        return
    if isinstance(ta, ak.types.RecordType):
        if not isinstance(tb, ak.types.RecordType):
            problems.append(f"{where}: a record ({len(ta.fields)} fields) became {tb}")
            return
        missing = [f for f in ta.fields if f not in tb.fields]
        if missing:
            problems.append(f"{where}: record fields missing in the output: {missing[:5]}")
        for f in ta.fields:
            if f in tb.fields:
                _compare(a[f], b[f], f"{where}.{f}", problems)
        return
    if isinstance(ta, (ak.types.ListType, ak.types.RegularType)):
        if not isinstance(tb, (ak.types.ListType, ak.types.RegularType)):
            problems.append(f"{where}: a list ({ta}) became {tb}")
            return
        ca, cb = ak.to_numpy(ak.num(a, axis=1)), ak.to_numpy(ak.num(b, axis=1))
        if not np.array_equal(ca, cb):
            bad = int(np.sum(ca != cb)) if len(ca) == len(cb) else len(ca)
            problems.append(f"{where}: counts differ in {bad} of {len(ca)} lists")
            return
        _compare(ak.flatten(a, axis=1), ak.flatten(b, axis=1), f"{where}[]", problems)
        return
    if isinstance(ta, ak.types.NumpyType) and isinstance(tb, ak.types.NumpyType):
        x, y = np.asarray(ak.to_numpy(a)), np.asarray(ak.to_numpy(b))
        _compare_numbers(x, y, where, problems)
        return
    if ak.to_list(a) != ak.to_list(b):  # unions and the like: exact
        problems.append(f"{where}: {ta} vs {tb}: values differ")


def _compare_numbers(x: Any, y: Any, where: str, problems: list[str]) -> None:
    import numpy as np

    if x.dtype.kind == "f" or (x.dtype.kind == "c"):
        xf, yf = x.astype(np.float64), y.astype(np.float64)
        nx, ny = np.isnan(xf), np.isnan(yf)
        if not np.array_equal(nx, ny):
            problems.append(f"{where}: NaN at {int(np.sum(nx != ny))} other places")
            return
        xf, yf = xf[~nx], yf[~nx]
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(yf - xf)
            bad = ~(err <= REL * np.abs(xf))
        inf = np.isinf(xf)
        bad[inf] = xf[inf] != yf[inf]
        if bad.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = err[bad] / np.abs(xf[bad])
            problems.append(
                f"{where}: {int(bad.sum())} of {len(xf)} floats beyond {ERROR} (worst rel. error "
                f"{float(np.nanmax(rel)) if rel.size else float('nan'):.3g}; dtype {x.dtype} -> {y.dtype})"
            )
        return
    if x.dtype.kind in "iub" and y.dtype.kind in "iub":
        if {x.dtype.kind, y.dtype.kind} == {"u", "i"}:
            same = (x.astype(object) == y.astype(object)) if x.size else np.zeros(0, bool)
        else:
            same = x == y
        if not np.all(same):
            problems.append(f"{where}: {int(np.sum(~same))} of {len(x)} values differ ({x.dtype} -> {y.dtype})")
        return
    same = x.astype(np.float64) == y.astype(np.float64)  # integers that came back as floats
    if not np.all(same):
        problems.append(f"{where}: {int(np.sum(~same))} of {len(x)} values differ ({x.dtype} -> {y.dtype})")


def _announced(name: str, messages: list[str]) -> bool:
    pattern = re.compile(r"(?<![\w.:/])" + re.escape(name) + r"(?![\w])")
    return any(pattern.search(m) for m in messages)


def _truncated_count(messages: list[str], names: list[str]) -> int:
    """How many branches the warnings announce without naming them (``leaving out 12 branch(es): a, b …``)."""
    extra = 0
    for m in messages:
        if "…" not in m and "..." not in m:
            continue
        for number in re.findall(r"\b(\d+)\s+(?:[\w()-]+\s+){0,3}?(?:branch|field|column)", m):
            extra += max(0, int(number) - sum(_announced(n, [m]) for n in names))
    return extra


def _check_tree(orig: Any, out: Any, messages: list[str]) -> dict[str, Any]:
    """Status of one tree: every unit of the original looked up in the output and compared."""
    import awkward as ak

    res: dict[str, Any] = {"entries_out": int(out.num_entries), "left_out": [], "problems": [], "notes": []}
    if int(orig.num_entries) != int(out.num_entries):
        res["problems"].append(f"{int(orig.num_entries)} entries, output {int(out.num_entries)}")
    index = _output_index(out)
    missing: dict[str, list[str]] = collections.defaultdict(list)  # top-level branch -> missing units
    unreadable = []
    checked = 0
    units = _units(orig)
    named = collections.Counter(u["name"] for u in units)
    for unit in units:
        try:
            a = _read(unit["obj"])
        except Exception as exc:
            a = None
            unreadable.append(f"{unit['name']} ({_one_line(exc)[:80]})")
        target = _find(index, unit["keys"])
        pairs: list[tuple[str, Any, Any]] = []
        if target is not None:
            pairs = [(unit["name"], a, target)]
        elif a is not None and isinstance(a.type.content, ak.types.RecordType):  # a record split into branches?
            found = {f: _find(index, [f"{k}{sep}{f}" for k in unit["keys"] for sep in "./_:"]) for f in a.fields}
            if a.fields and all(v is not None for v in found.values()):
                pairs = [(f"{unit['name']}.{f}", a[f], v) for f, v in found.items()]
        if not pairs:
            missing[unit["top"]].append(unit["name"])
            continue
        if a is None:
            res["notes"].append(f"{unit['name']}: uproot cannot read the original; output not checked")
            continue
        for where, values, target in pairs:
            try:
                b = _read(target)
            except Exception as exc:
                res["problems"].append(f"{where}: output unreadable: {_one_line(exc)[:200]}")
                continue
            checked += 1
            problems: list[str] = []
            sizes = _find(index, [f"{k}_size" for k in unit["keys"]])
            if sizes is not None and _depth(values) == 2 and _depth(b) == 1:  # docs/root.md: no nested vectors
                res["notes"].append(f"{where}: nested vectors written as values per event + {where}_size")
                inner = ak.flatten(ak.num(values, axis=2), axis=1)
                try:
                    _compare(ak.flatten(values, axis=2), b, where, problems)
                    _compare(inner, ak.flatten(_read(sizes), axis=1), f"{where}_size", problems)
                except Exception as exc:
                    problems.append(f"{where}: comparison raised {_one_line(exc)[:200]}")
                res["problems"] += problems
                continue
            try:
                _compare(values, b, where, problems)
            except Exception as exc:
                problems.append(f"{where}: comparison raised {_one_line(exc)[:200]}")
            if problems and named[unit["name"]] > 1:
                problems = [f"{p} [the original has {named[unit['name']]} branches of this name]" for p in problems]
            res["problems"] += problems
    if unreadable:
        res["notes"].append(f"{len(unreadable)} branch(es) uproot cannot read in the original: {unreadable[:3]}")
    spare = _truncated_count(messages, list(missing))
    for top, names in missing.items():
        chain_named = _announced(top, messages) or any(_announced(n, messages) for n in names)
        if chain_named:
            res["left_out"] += names
        elif spare > 0:
            spare -= 1
            res["left_out"] += names
            res["notes"].append(f"{top}: left out, announced by count only")
        else:
            res["problems"].append(
                f"missing from the output without a warning: {top}"
                + (f" ({len(names)} sub-branches)" if len(names) > 1 or names[0] != top else "")
            )
    res["checked"] = checked
    res["status"] = "failed" if res["problems"] else "partial" if res["left_out"] else "ok"
    res["problems"] = res["problems"][:MAX_PROBLEMS]
    return res


def _depth(array: Any) -> int:
    """Levels of variable-length lists per entry (``var * var * float64`` → 2)."""
    import awkward as ak

    tp, depth = array.type.content, 0
    while isinstance(tp, ak.types.ListType):
        tp, depth = tp.content, depth + 1
    return depth


def _kwargs(func: Any, **wanted: Any) -> dict[str, Any]:
    params = inspect.signature(func).parameters
    return {k: v for k, v in wanted.items() if k in params}


def child(path: Path, result_path: Path, work: Path) -> None:
    """Compress, decompress and compare one file; the result is written after every stage."""
    import uproot

    res: dict[str, Any] = {"stage": "scan", "trees": [], "warnings": []}
    _write_json(result_path, res)
    try:  # the original as uproot sees it
        with uproot.open(path) as f:
            for tname, cls in _trees(f).items():
                entry: dict[str, Any] = {"tree": tname, "classname": cls}
                try:
                    obj = f[tname]
                    entry["entries"] = int(obj.num_entries)
                    entry["branches"] = len(_units(obj))
                except Exception as exc:
                    entry["scan_error"] = _one_line(exc)
                res["trees"].append(entry)
            res["other_objects"] = sum(1 for v in f.classnames(cycle=False).values() if v not in TREE_CLASSES)
    except Exception as exc:
        res["scan_error"] = _one_line(exc)
    capture = _Captured()
    logging.getLogger().addHandler(capture)
    logging.getLogger().setLevel(logging.WARNING)
    import bale
    from bale.config import BaleConfig
    from bale.errors import BaleError

    cfg = BaleConfig.model_validate({"model": {"learned": False}})
    packed, unpacked = work / "file.bale", work / "out.root"
    res["stage"] = "compress"
    _write_json(result_path, res)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = bale.compress(
                str(path), packed, error=ERROR, config=cfg, **_kwargs(bale.compress, workers=1, progress=False)
            )
            res["ratio"] = report.get("ratio") if isinstance(report, dict) else None
            res["bale_bytes"] = packed.stat().st_size
            res["compress_s"] = round(time.perf_counter() - started, 2)
            res["stage"] = "decompress"
            res["warnings"] = capture.messages + [f"warning: {w.message}" for w in caught]
            _write_json(result_path, res)
            started = time.perf_counter()
            try:
                bale.decompress(packed, unpacked, **_kwargs(bale.decompress, workers=1, progress=False))
            except BaleError as exc:
                res["status"], res["reason"] = "failed", f"decompress refused bale's own file: {_one_line(exc)}"
                res["traceback"] = traceback.format_exc()
                return
            res["decompress_s"] = round(time.perf_counter() - started, 2)
        except BaleError as exc:
            if res["stage"] == "compress":
                res["status"], res["reason"] = "refused", _one_line(exc)
            return
        except Exception as exc:
            res["status"], res["reason"] = "failed", f"{res['stage']} raised {_one_line(exc)}"
            res["traceback"] = traceback.format_exc()
            return
        finally:
            res["warnings"] = capture.messages + [f"warning: {w.message}" for w in caught]
            if res.get("status"):
                for t in res["trees"]:
                    t["status"], t["reason"] = res["status"], res["reason"]
                _write_json(result_path, res)
    res["stage"] = "compare"
    _write_json(result_path, res)
    messages = res["warnings"]
    try:
        with uproot.open(path) as f, uproot.open(unpacked) as g:
            out_trees = _trees(g)
            res["output_trees"] = out_trees
            for t in res["trees"]:
                name = t["tree"]
                if "scan_error" in t:
                    t["status"], t["reason"] = "failed", f"uproot cannot list the original: {t['scan_error']}"
                    continue
                if name not in out_trees:
                    announced = _announced(name.rsplit("/", 1)[-1], messages)
                    t["status"] = "partial" if announced else "failed"
                    t["reason"] = "tree left out (named in a warning)" if announced else "tree missing, no warning"
                    continue
                try:
                    checked = _check_tree(f[name], g[name], messages)
                except Exception as exc:
                    checked = {"status": "failed", "problems": [f"check raised {_one_line(exc)}"],
                               "traceback": traceback.format_exc()}  # fmt: skip
                t.update(checked)
                t["reason"] = (
                    " · ".join(checked["problems"][:3])
                    if checked["status"] == "failed"
                    else (f"left out: {', '.join(checked['left_out'][:8])}" if checked["status"] == "partial" else "")
                )
    except Exception as exc:
        res["status"], res["reason"] = "failed", f"reading the output raised {_one_line(exc)}"
        res["traceback"] = traceback.format_exc()
        _write_json(result_path, res)
        return
    worst = max((STATUSES.index(t.get("status", "failed")) for t in res["trees"]), default=0)
    res["status"] = STATUSES[worst] if res["trees"] else "ok"
    res["reason"] = next((t["reason"] for t in res["trees"] if t.get("status") == res["status"]), "")
    res["stage"] = "done"
    _write_json(result_path, res)


def _child_main(path: str, result: str, work: str) -> None:
    try:
        child(Path(path), Path(result), Path(work))
    except BaseException as exc:  # the parent reads what the result file says
        res = json.loads(Path(result).read_text()) if Path(result).is_file() else {}
        res.update(status="failed", reason=f"benchmark child raised {_one_line(exc)}", traceback=traceback.format_exc())
        _write_json(Path(result), res)
        raise


# ---------------------------------------------------------------------------------------------------------
# the parent: the corpus, one subprocess per file, the reports


def run_file(label: str, path: Path, timeout: float, keep: Path | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bale-root-corpus-"))
    result = work / "result.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TQDM_DISABLE="1")
    started = time.perf_counter()
    with open(work / "child.log", "wb") as logfile:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(path), str(result), str(work)],
            stdout=logfile, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
            rc = proc.wait()
            timed_out = True
    res: dict[str, Any] = {}
    if result.is_file():
        try:
            res = json.loads(result.read_text())
        except ValueError:
            res = {}
    tail = (work / "child.log").read_text(errors="replace").strip().splitlines()[-15:]
    if timed_out:
        res["status"], res["reason"] = "failed", f"timeout after {timeout:g} s in {res.get('stage', 'start')}"
    elif rc != 0 and not res.get("status"):
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        res["status"] = "failed"
        res["reason"] = f"crash ({how}) in {res.get('stage', 'start')}: {tail[-1] if tail else ''}"[:500]
    elif not res.get("status"):
        res["status"], res["reason"] = "failed", f"no result from the child (stage {res.get('stage')})"
    if res["status"] == "failed" and rc != 0:
        res["log_tail"] = tail
    for t in res.get("trees", []):
        if t.get("status") is None or (res["status"] == "failed" and res.get("stage") != "done" and timed_out):
            t["status"], t["reason"] = res["status"], res["reason"]
    res.update(file=label, path=str(path), bytes=path.stat().st_size, seconds=round(time.perf_counter() - started, 2))
    if keep is not None:
        dest = keep / label.replace("/", "__")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work, dest)
    shutil.rmtree(work, ignore_errors=True)
    return res


def _commit() -> str:
    if os.environ.get("BALE_SOURCE_COMMIT"):
        return os.environ["BALE_SOURCE_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, check=True)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _bale_info() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", "import bale, uproot, awkward; print(bale.__version__, bale.__file__, "
         "uproot.__version__, awkward.__version__)"],
        capture_output=True, text=True,
    )  # fmt: skip
    parts = out.stdout.split()
    if len(parts) != 4:
        return {"error": out.stderr.strip()[-300:]}
    return {"bale": parts[0], "bale_path": parts[1], "uproot": parts[2], "awkward": parts[3]}


def _pattern(reason: str) -> str:
    """A reason with its names, lists and numbers blanked, to group like failures (the first problem only)."""
    if reason.startswith("left out:"):
        return "left out: …"
    reason = reason.split(" · ")[0] if not reason.startswith(("Bale", "timeout", "crash")) else reason
    reason = re.sub(r"(without a warning: ).*", r"\1…", reason)
    reason = re.sub(
        r"^[^;]+?: (?=(\d+ of \d+|NaN|counts|a list|a record|strings|record fields|output unreadable|comparison"
        r"|missing values|\d+ values))",
        "BRANCH: ",
        reason,
    )
    text = re.sub(r"(/[\w.+-]+)+", "PATH", reason)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "(…)", text)
    text = re.sub(r"\[[^\]]*\]", "[…]", text)
    text = re.sub(r"[\w.:<>*#-]+(, [\w.:<>*#-]+)+( …)?", "…", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[-+]?\d+)?\b", "N", text)
    return text[:200]


def _cell(text: Any, limit: int = 240) -> str:
    text = str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def totals(results: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    files = collections.Counter(r["status"] for r in results)
    trees = collections.Counter(t.get("status", r["status"]) for r in results for t in r.get("trees") or [])
    return {"files": {s: files.get(s, 0) for s in STATUSES}, "trees": {s: trees.get(s, 0) for s in STATUSES}}


def reasons(results: list[dict[str, Any]], status: str) -> list[tuple[str, int, int, str, str]]:
    """(pattern, files, trees, example file, example reason) of each distinct reason of ``status``, commonest first.

    A file without trees counts as one file and no tree.
    """
    groups: dict[str, list[tuple[str, str, int]]] = collections.defaultdict(list)
    for r in results:
        for t in r.get("trees") or [{"tree": None, "status": r["status"], "reason": r.get("reason", "")}]:
            if t.get("status", r["status"]) == status:
                reason = t.get("reason") or r.get("reason", "")
                groups[_pattern(reason)].append((r["file"], reason, int(t["tree"] is not None)))
    out = [(p, len({f for f, _, _ in v}), sum(n for _, _, n in v), v[0][0], v[0][1]) for p, v in groups.items()]
    return sorted(out, key=lambda g: (-g[1], -g[2]))


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    tot = totals(results)
    lines = [
        "# bale on ROOT files it did not write",
        "",
        f"{meta['date']}; bale {meta.get('bale', '?')} ({meta['commit']}, {meta.get('bale_path', '?')}), "
        f"uproot {meta.get('uproot', '?')}; `error={ERROR}`, config `model.learned = false`; "
        f"{len(results)} files in {meta['seconds'] / 60:.1f} min with {meta['jobs']} jobs "
        f"(timeout {meta['timeout']:g} s).",
        "",
        "| | ok | partial | refused | failed |",
        "|---|--:|--:|--:|--:|",
        "| files | " + " | ".join(str(tot["files"][s]) for s in STATUSES) + " |",
        "| trees | " + " | ".join(str(tot["trees"][s]) for s in STATUSES) + " |",
        "",
        f"{sum(not r.get('trees') for r in results)} files hold no tree (TTree, TNtuple, RNTuple); "
        "their row says `–` and they count as files only.",
        "",
    ]
    for status in ("failed", "refused", "partial"):
        groups = reasons(results, status)
        if not groups:
            continue
        lines += [f"## Reasons: {status}", "", "| files | trees | reason (pattern) | example file | example |"]
        lines.append("|--:|--:|---|---|---|")
        lines += [f"| {nf} | {nt} | {_cell(p, 160)} | `{f}` | {_cell(ex, 200)} |" for p, nf, nt, f, ex in groups]
        lines.append("")
    lines += ["## Every tree", "", "| file | tree | entries | branches | status | reason |"]
    lines.append("|---|---|--:|--:|---|---|")
    for r in results:
        trees = r.get("trees") or [{"tree": "–"}]
        for t in trees:
            status = t.get("status", r["status"])
            lines.append(
                f"| `{r['file']}` | `{t.get('tree', '–')}` | {t.get('entries', '')} | {t.get('branches', '')} | "
                f"{status} | {_cell(t.get('reason') or r.get('reason', ''))} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child_main(*sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("--corpus", type=Path, help="folder of ROOT files (default: scikit-hep-testdata 0.3.12)")
    ap.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED, help="also its *.root (if it exists)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one file may take")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="+", metavar="GLOB", help="only files whose label (skhep/NAME) matches")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep each file's .bale, output and child log here")
    ap.add_argument("--markdown-only", action="store_true", help="rebuild root_corpus.md from root_corpus.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.markdown_only:
        report = json.loads((args.out_dir / "root_corpus.json").read_text())
        (args.out_dir / "root_corpus.md").write_text(markdown(report["files"], report["meta"]))
        return 0
    files = corpus_files(args.corpus, args.shared_data)
    if args.only:
        files = [(lab, p) for lab, p in files if any(fnmatch.fnmatch(lab, g) for g in args.only)]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "commit": _commit(), **_bale_info(),
        "error": ERROR, "config": {"model": {"learned": False}}, "timeout": args.timeout, "jobs": args.jobs,
        "files": len(files),
    }  # fmt: skip
    log.info("%d files, %d jobs, bale %s from %s", len(files), args.jobs, meta.get("bale"), meta.get("bale_path"))
    started = time.perf_counter()
    results: list[dict[str, Any]] = []

    def one(item: tuple[str, Path]) -> dict[str, Any]:
        res = run_file(item[0], item[1], args.timeout, args.keep)
        log.info("%-7s %6.1f s  %s  %s", res["status"], res["seconds"], item[0], _cell(res.get("reason"), 150))
        return res

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, files))
    meta["seconds"] = round(time.perf_counter() - started, 1)
    report = {"meta": meta, "totals": totals(results), "files": results}
    (args.out_dir / "root_corpus.json").write_text(json.dumps(report, indent=1, default=str))
    (args.out_dir / "root_corpus.md").write_text(markdown(results, meta))
    tot = report["totals"]
    log.info(
        "files: %s; trees: %s; %.1f min; %s",
        ", ".join(f"{n} {s}" for s, n in tot["files"].items()),
        ", ".join(f"{n} {s}" for s, n in tot["trees"].items()),
        meta["seconds"] / 60,
        args.out_dir / "root_corpus.md",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

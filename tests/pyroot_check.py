"""Compare the trees of two ROOT files with real CERN ROOT: an original and bale's round trip of it.

Run with a Python that can ``import ROOT`` (PyROOT; see tests/test_pyroot.py)::

    pyroot_check.py ORIGINAL.root OUTPUT.root [--rel 1e-3] [--abs 0] [--allow-missing NAME ...]

For every TTree (TNtuple included, in any directory) of ORIGINAL it opens the tree of the
same name in OUTPUT, compares ``GetEntries()`` and, with one ``ROOT.RDataFrame`` event loop
per file and tree, computes for every numeric branch (flat scalars, ``std::vector``,
C-style jagged arrays with their counter, fixed-size arrays, ``vector<vector<T>>``):

* ``n`` (values), ``n_outer`` (sum of the top-level sizes), ``wn``, ``wouter`` (sizes
  weighted by entry number) and, for ``vector<vector<T>>``, ``wsizes`` (the inner sizes
  weighted by entry and position): compared exactly;
* integers and bools: the sum and a position-weighted sum (entry and index within the
  entry), modulo 2**64: compared exactly;
* floats: the sum and the position-weighted sum, compared within ``rel * sum|x| + abs * n``
  (each value within ``rel`` of the original puts the sum within ``rel * sum|x|``), plus
  the counts of NaN, +inf and -inf, compared exactly.

Each file is read with its own branch types, so a changed type cannot make ROOT fail to
read; a changed kind (integer/float) or structure (scalar/array/nested) is a failure, a
changed exact type (``Double32_t`` written back as ``double``, ``int`` as ``long long``)
is reported as ``type`` and fails only with ``--strict-types`` (ROOT's typedefs are the
same type: ``Float_t`` is ``float``; ``std::vector<T>`` and ``T[n]`` are both ``RVec<T>``).
``--flattened NAME`` accepts a ``vector<vector<T>>`` branch written back as the values of
each entry (``NAME``, one level) and the inner sizes (``NAME_size``), as bale writes it
because uproot writes no nested vectors: values, sizes and positions are all compared.

Objects beside the trees (histograms, TObjString, TNamed, ...) must be in OUTPUT under the
same path (unless ``--allow-missing``); a TH1's entries, sum of weights and bins, a
TObjString's string and a TNamed's title are compared exactly.

ROOT's errors and warnings are captured by an error handler (and ROOT's RLogger counts):
any is a failure. A JSON summary goes to stdout: per tree, per branch a status (``ok``,
``mismatch``, ``missing``, ``allowed-missing``, ``type-mismatch``, ``skipped`` for
non-numeric branches, ``error``), and a top-level ``ok``. Exit status 0 when ``ok``, else 1
(2 for bad arguments).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import re
import sys
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", message=r"\s*This distribution of ROOT is in alpha", category=UserWarning)

_CPP = r"""
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>
#include "TBranch.h"
#include "TError.h"
#include "TFile.h"
#include "TLeaf.h"
#include "TTree.h"
#include "ROOT/RDataFrame.hxx"
#include "ROOT/RLogger.hxx"

namespace balecheck {

std::vector<std::string> messages;

void handler(Int_t level, Bool_t abort, const char *location, const char *msg)
{
   if (level >= kWarning)
      messages.push_back(std::string(level >= kError ? "Error" : "Warning") + " in <" + location + ">: " + msg);
   DefaultErrorHandler(level, abort, location, msg);
}

void install() { SetErrorHandler(handler); }

long long rlog_errors() { return ROOT::RLogManager::Get().GetNumErrors(); }
long long rlog_warnings() { return ROOT::RLogManager::Get().GetNumWarnings(); }

struct Stats {
   ULong64_t n = 0, n_outer = 0, wn = 0, wouter = 0, wsizes = 0, isum = 0, iwsum = 0, nan = 0, posinf = 0, neginf = 0;
   double fsum = 0, fabs = 0, fwsum = 0, fwabs = 0, fwn = 0;  // fwn: the sum of the weights of fwsum
};

std::vector<Stats> stats;

void reset(std::size_t n) { stats.assign(n, Stats{}); }

template <class T, class F>
void each(const T &x, F &f)
{
   if constexpr (std::is_arithmetic_v<T>) {
      f(x);
   } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
      for (bool b : x)
         f(b);
   } else {
      for (const auto &y : x)
         each(y, f);
   }
}

template <class T>
ULong64_t outer(const T &x)
{
   if constexpr (std::is_arithmetic_v<T>)
      return 1;
   else
      return x.size();
}

// sum of (j + 1) * size of the j-th inner list: the sizes of nested lists, position-weighted
template <class T>
ULong64_t inner_sizes(const T &x)
{
   ULong64_t s = 0, j = 0;
   if constexpr (!std::is_arithmetic_v<T>) {
      using Inner = std::decay_t<decltype(*std::begin(x))>;
      if constexpr (!std::is_arithmetic_v<Inner>) {
         for (const auto &y : x)
            s += ++j * static_cast<ULong64_t>(y.size());
      }
   }
   return s;
}

template <class T>
struct Acc {
   std::size_t idx;
   bool operator()(ULong64_t entry, const T &x)
   {
      Stats &s = stats[idx];
      const ULong64_t e = entry + 1;
      ULong64_t k = 0, iw = 0;
      double fw = 0, fwa = 0, fk = 0;
      auto f = [&](auto v) {
         using V = decltype(v);
         ++k;
         if constexpr (std::is_floating_point_v<V>) {
            const double d = v;
            if (std::isnan(d)) {
               ++s.nan;
            } else if (std::isinf(d)) {
               ++(d > 0 ? s.posinf : s.neginf);
            } else {
               s.fsum += d;
               s.fabs += std::abs(d);
               fw += double(k) * d;
               fwa += double(k) * std::abs(d);
               fk += double(k);
            }
         } else {
            ULong64_t u;
            if constexpr (std::is_signed_v<V>)
               u = static_cast<ULong64_t>(static_cast<Long64_t>(v));
            else
               u = static_cast<ULong64_t>(v);
            s.isum += u;
            iw += k * u;
         }
      };
      each(x, f);
      s.n += k;
      s.wn += e * k;
      s.n_outer += outer(x);
      s.wouter += e * outer(x);
      s.wsizes += e * inner_sizes(x);
      s.fwsum += double(e) * fw;
      s.fwabs += double(e) * fwa;
      s.fwn += double(e) * fk;
      s.iwsum += e * iw;
      return true;
   }
};

template <class T>
ROOT::RDF::RNode add(ROOT::RDF::RNode df, std::size_t idx, const std::string &col)
{
   return df.Filter(Acc<T>{idx}, {"rdfentry_", col});
}

// A jagged leaf named unlike its branch (``Photon_E`` holding ``Photons_E[NPhoton]/F``)
// makes TTreeReaderArray, so RDataFrame, loop forever looking for the counter
// (root-project/root#21440, #10611): such a leaf is read with TLeaf instead.
std::string leaf_stats(const char *path, const char *tree_name, const char *branch, const char *leaf_name,
                       std::size_t idx, bool is_float)
{
   std::unique_ptr<TFile> f(TFile::Open(path, "READ"));
   if (!f || f->IsZombie())
      return "cannot open the file";
   auto *t = f->Get<TTree>(tree_name);
   TBranch *b = t ? t->GetBranch(branch) : nullptr;
   TLeaf *leaf = b ? b->GetLeaf(leaf_name) : nullptr;
   if (!leaf)
      return "no such leaf";
   TLeaf *count = leaf->GetLeafCount();
   Acc<std::vector<double>> facc{idx};  // not RVec: its symbols are not loaded yet when this is declared
   Acc<std::vector<ULong64_t>> iacc{idx};
   std::vector<double> fv;
   std::vector<ULong64_t> iv;
   for (Long64_t e = 0, n = t->GetEntries(); e < n; ++e) {
      if (count)
         count->GetBranch()->GetEntry(e);
      b->GetEntry(e);
      const Int_t len = leaf->GetLen();
      if (is_float) {
         fv.resize(len);
         for (Int_t i = 0; i < len; ++i)
            fv[i] = leaf->GetValue(i);
         facc(e, fv);
      } else {
         iv.resize(len);
         for (Int_t i = 0; i < len; ++i)
            iv[i] = static_cast<ULong64_t>(leaf->GetValueLong64(i));
         iacc(e, iv);
      }
   }
   return "";
}

} // namespace balecheck
"""

_INTS = {
    "Bool_t", "bool", "Char_t", "char", "signed char", "UChar_t", "unsigned char", "Short_t", "short",
    "UShort_t", "unsigned short", "Int_t", "int", "UInt_t", "unsigned int", "unsigned", "Long_t", "long",
    "ULong_t", "unsigned long", "Long64_t", "long long", "ULong64_t", "unsigned long long",
    "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t",
    "std::int8_t", "std::uint8_t", "std::int16_t", "std::uint16_t", "std::int32_t", "std::uint32_t",
    "std::int64_t", "std::uint64_t",
}  # fmt: skip
_FLOATS = {"Float_t", "float", "Double_t", "double", "Double32_t", "Float16_t", "long double"}
_WRAPPERS = re.compile(r"^(?:ROOT::VecOps::RVec|ROOT::RVec|std::vector|vector)<(.*)>$")
_COUNTS = ("n", "n_outer", "wn", "wouter", "wsizes", "isum", "iwsum", "nan", "posinf", "neginf")
_SHAPE = ("n", "n_outer", "wn", "wouter", "wsizes")
_INT_FIELDS = (*_SHAPE, "isum", "iwsum")
_FLOAT_EXACT = (*_SHAPE, "nan", "posinf", "neginf")
# ROOT's typedefs -> C++ types: RDataFrame names a std::vector<float> RVec<float>, a float[n] RVec<Float_t>
_ALIASES = {
    "Bool_t": "bool", "Char_t": "char", "UChar_t": "unsigned char", "Short_t": "short", "UShort_t": "unsigned short",
    "Int_t": "int", "UInt_t": "unsigned int", "Long_t": "long", "ULong_t": "unsigned long", "Long64_t": "long long",
    "ULong64_t": "unsigned long long", "Float_t": "float", "Double_t": "double",
}  # fmt: skip


def parse_type(typename: str) -> tuple[str, int]:
    """``ROOT::VecOps::RVec<vector<float> >`` -> (``float``, 2): the element type and the nesting depth."""
    t, depth = typename.strip(), 0
    while m := _WRAPPERS.match(t):
        inner = m.group(1).strip()
        if "," in inner:  # vector<T, allocator>
            inner = inner.split(",")[0].strip()
        t, depth = inner, depth + 1
    return t, depth


def normal_type(typename: str) -> tuple[str, int]:
    element, depth = parse_type(typename)
    return _ALIASES.get(element, element), depth


def kind_of(element: str) -> str | None:
    if element in _INTS:
        return "int"
    if element in _FLOATS:
        return "float"
    return None


class Check:
    def __init__(self, args: argparse.Namespace) -> None:
        import ROOT

        self.ROOT = ROOT
        self.args = args
        ROOT.gROOT.SetBatch(True)
        ROOT.gErrorIgnoreLevel = ROOT.kInfo  # our handler sees info and up; warnings and errors are failures
        if not ROOT.gInterpreter.Declare(_CPP):
            raise RuntimeError("could not declare the C++ helpers")
        ROOT.balecheck.install()
        self.failures: list[str] = []

    # -- discovery -------------------------------------------------------------------
    def walk(self, directory: Any, prefix: str = "") -> dict[str, str]:
        """Unique object paths (highest cycle) of a directory, recursively -> class name."""
        out: dict[str, str] = {}
        for key in directory.GetListOfKeys():
            name, cls = prefix + key.GetName(), key.GetClassName()
            if name in out:
                continue
            out[name] = cls
            tclass = self.ROOT.TClass.GetClass(cls)
            if tclass and tclass.InheritsFrom("TDirectory"):
                out.update(self.walk(directory.Get(key.GetName()), name + "/"))
        return out

    def inherits(self, cls: str, base: str) -> bool:
        tclass = self.ROOT.TClass.GetClass(cls)
        return bool(tclass) and tclass.InheritsFrom(base)

    def is_tree(self, cls: str) -> bool:
        return self.inherits(cls, "TTree")

    def compare_object(self, name: str, cls: str, objects_b: dict[str, str], fa: Any, fb: Any) -> dict[str, Any]:
        """An object beside the trees: present under the same path; a few of its contents equal."""
        if name not in objects_b:
            status = "allowed-missing" if self.allowed(name, name) else "missing"
            if status == "missing":
                self.failures.append(f"{name}: {cls} missing from the output")
            return {"class": cls, "status": status}
        result: dict[str, Any] = {"class": cls if cls == objects_b[name] else [cls, objects_b[name]], "status": "ok"}
        a, b = fa.Get(name), fb.Get(name)
        if self.inherits(cls, "TH1") and self.inherits(objects_b[name], "TH1"):
            facts = [(h.GetEntries(), h.GetSumOfWeights(), h.GetNcells(), h.GetDimension()) for h in (a, b)]
            contents = [[h.GetBinContent(i) for i in range(h.GetNcells())] for h in (a, b)]
            if facts[0] != facts[1] or contents[0] != contents[1]:
                result.update(status="mismatch", why=f"histogram (entries, sum, cells, dim) {facts[0]} vs {facts[1]}")
        elif cls == "TObjString" and objects_b[name] == "TObjString":
            if str(a.GetString()) != str(b.GetString()):
                result.update(status="mismatch", why="string differs")
        elif (
            self.inherits(cls, "TNamed")
            and self.inherits(objects_b[name], "TNamed")
            and str(a.GetTitle()) != str(b.GetTitle())
        ):
            result.update(status="mismatch", why="title differs")
        if result["status"] == "mismatch":
            self.failures.append(f"{name}: {result['why']}")
        return result

    def columns(self, tree: Any) -> dict[str, tuple[str, str | None, tuple[str, str, str] | None]]:
        """Branch key -> (RDataFrame column, reason it is skipped or None, TLeaf fallback or None).

        The key is the branch name (``branch.leaf`` for each leaf of a leaflist of several
        leaves); the column differs from it where a branch's only leaf has another name
        (``Photon_E`` holding leaf ``Photons_E``: column ``Photon_E.Photons_E``), and such a
        leaf with a counter is read with TLeaf (fallback: branch, leaf, type), not RDataFrame.
        """
        out: dict[str, tuple[str, str | None, tuple[str, str, str] | None]] = {}

        def skip(leaf: Any) -> str | None:
            return "string leaf" if leaf is not None and leaf.IsA().GetName() == "TLeafC" else None

        def visit(branch: Any) -> None:
            subs = branch.GetListOfBranches()
            if subs.GetEntries():
                for sub in subs:
                    visit(sub)
                return
            name, leaves = branch.GetName(), branch.GetListOfLeaves()
            if leaves.GetEntries() > 1:  # a leaflist of several leaves: columns branch.leaf
                for leaf in leaves:
                    out[f"{name}.{leaf.GetName()}"] = (f"{name}.{leaf.GetName()}", skip(leaf), None)
                return
            leaf = leaves.At(0) if leaves.GetEntries() else None
            column, fallback = name, None
            if leaf is not None and branch.IsA().GetName() == "TBranch" and leaf.GetName() != name:
                column = f"{name}.{leaf.GetName()}"
                if leaf.GetLeafCount():  # TTreeReaderArray hangs on these: read with TLeaf
                    fallback = (name, leaf.GetName(), f"ROOT::VecOps::RVec<{leaf.GetTypeName()}>")
            out[name] = (column, skip(leaf), fallback)

        for branch in tree.GetListOfBranches():
            visit(branch)
        return out

    # -- one event loop ----------------------------------------------------------------
    def stats(self, path: str, tree_name: str, cols: dict[str, tuple]) -> tuple[dict[str, dict], dict[str, str]]:
        """Stats of the columns (key -> columns() entry) in one loop over the tree, read with this file's types."""
        ROOT = self.ROOT
        df = ROOT.RDataFrame(tree_name, path)
        node = ROOT.RDF.AsRNode(df)
        ROOT.balecheck.reset(len(cols))
        types, errors = {}, {}
        booked, fallbacks = [], []
        for idx, (key, (col, _, fallback)) in enumerate(cols.items()):
            try:
                typename = fallback[2] if fallback else str(df.GetColumnType(col))
                types[key] = typename
                element, _ = parse_type(typename)
                if kind_of(element) is None:
                    errors[key] = f"non-numeric type {typename}"
                    continue
                if fallback:
                    fallbacks.append((idx, key, fallback, kind_of(element) == "float"))
                else:
                    node = ROOT.balecheck.add[typename](node, idx, col)
                booked.append((idx, key))
            except Exception as exc:  # a type cppyy cannot instantiate, an unknown column
                errors[key] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc) else ''}"
        node.Count().GetValue()  # the event loop: every Filter runs on every entry
        for idx, key, (branch, leaf, _), is_float in fallbacks:
            why = str(ROOT.balecheck.leaf_stats(path, tree_name, branch, leaf, idx, is_float))
            if why:
                errors[key] = why
                booked.remove((idx, key))
        out = {}
        for idx, key in booked:
            s = ROOT.balecheck.stats[idx]
            out[key] = {
                "type": types[key],
                **{f: int(getattr(s, f)) for f in _COUNTS},
                **{f: float(getattr(s, f)) for f in ("fsum", "fabs", "fwsum", "fwabs", "fwn")},
            }
        return out, errors

    # -- comparison ----------------------------------------------------------------------
    def allowed(self, tree: str, name: str) -> bool:
        return any(
            fnmatch.fnmatchcase(name, pat)
            or fnmatch.fnmatchcase(f"{tree}/{name}", pat)
            or fnmatch.fnmatchcase(tree, pat)
            for pat in self.args.allow_missing
        )

    def compare_branch(self, a: dict, b: dict, flattened: bool = False) -> dict[str, Any]:
        (ea, da), (eb, db) = normal_type(a["type"]), normal_type(b["type"])
        result: dict[str, Any] = {"status": "ok", "type": a["type"]}
        if (ea, da) != (eb, db):
            result["type"] = [a["type"], b["type"]]
        ka, kb = kind_of(ea), kind_of(eb)
        if flattened and da == 2 and db == 1:
            result["flattened"] = True
        elif ka != kb or da != db:
            why = f"{a['type']} became {b['type']}"
            if da == 2 and db == 1:
                why += " (written flattened? see --flattened)"
            result.update(status="type-mismatch", why=why)
            return result
        if ka != kb:
            result.update(status="type-mismatch", why=f"{a['type']} became {b['type']}")
            return result
        if ea != eb and self.args.strict_types:
            result.update(status="type-mismatch", why=f"{a['type']} became {b['type']} (--strict-types)")
            return result
        skip = ("n_outer", "wouter", "wsizes") if result.get("flattened") else ()
        if ka == "int":
            bad = [f for f in _INT_FIELDS if f not in skip and a[f] != b[f]]
        else:
            bad = [f for f in _FLOAT_EXACT if f not in skip and a[f] != b[f]]
            for value, scale in (("fsum", "fabs"), ("fwsum", "fwabs")):
                weight = a["n"] - a["nan"] - a["posinf"] - a["neginf"] if value == "fsum" else a["fwn"]
                tol = self.args.rel * a[scale] + self.args.abs * weight + 1e-9 * a[scale] + 1e-300
                if not (abs(a[value] - b[value]) <= tol):
                    bad.append(value)
                    result.setdefault("tolerance", {})[value] = tol
        if bad:
            result.update(status="mismatch", fields={f: [a[f], b[f]] for f in bad})
        return result

    @staticmethod
    def compare_sizes(result: dict[str, Any], a: dict, size: dict | None, size_name: str) -> None:
        """A flattened vector<vector<T>>: its inner sizes against ``NAME_size`` (values, positions)."""
        if size is None or kind_of(normal_type(size["type"])[0]) != "int" or normal_type(size["type"])[1] != 1:
            result.update(status="mismatch", why=f"no integer array {size_name} with the inner sizes")
            return
        pairs = {"n_outer": "n", "wouter": "wn", "n": "isum", "wsizes": "iwsum"}  # original stat -> sizes' stat
        bad = {f"{size_name}.{g}": [a[f], size[g]] for f, g in pairs.items() if a[f] != size[g]}
        if bad:
            result.update(status="mismatch", fields={**result.get("fields", {}), **bad})

    def compare_tree(self, name: str, original: Any, output: Any, output_class: str | None) -> dict[str, Any]:
        report: dict[str, Any] = {"ok": True}
        if output_class is None:
            status = "allowed-missing" if self.allowed(name, name) else "missing"
            report.update(ok=status != "missing", status=status)
            if status == "missing":
                self.failures.append(f"{name}: tree missing from the output")
            return report
        if not self.is_tree(output_class):
            report.update(ok=False, status="type-mismatch", why=f"a {output_class} in the output, not a TTree")
            self.failures.append(f"{name}: {report['why']}")
            return report
        ta = original.Get(name)
        tb = output.Get(name)
        report["class"] = [ta.ClassName(), tb.ClassName()]
        report["entries"] = [int(ta.GetEntries()), int(tb.GetEntries())]
        if report["entries"][0] != report["entries"][1]:
            report["ok"] = False
            self.failures.append(f"{name}: {report['entries'][0]} entries became {report['entries'][1]}")
        cols_a, cols_b = self.columns(ta), self.columns(tb)
        wanted = [k for k, (_, skip, _) in cols_a.items() if skip is None]
        present = [k for k in wanted if k in cols_b]
        present += [f"{k}_size" for k in wanted if k in self.args.flattened and f"{k}_size" in cols_b]
        sa, err_a = self.stats(self.args.original, name, {k: cols_a[k] for k in wanted})
        sb, err_b = self.stats(self.args.output, name, {k: cols_b[k] for k in dict.fromkeys(present)})
        branches: dict[str, Any] = {}
        for col, (_, skip, _) in cols_a.items():
            if skip is not None:
                branches[col] = {"status": "skipped", "why": skip}
            elif col in err_a:
                if err_a[col].startswith("non-numeric"):
                    branches[col] = {"status": "skipped", "why": err_a[col]}
                else:
                    branches[col] = {"status": "error", "why": f"original: {err_a[col]}"}
            elif col not in cols_b:
                branches[col] = {"status": "allowed-missing" if self.allowed(name, col) else "missing"}
            elif col in err_b:
                branches[col] = {"status": "error", "why": f"output: {err_b[col]}"}
            else:
                flat = col in self.args.flattened
                branches[col] = self.compare_branch(sa[col], sb[col], flat)
                if branches[col].get("flattened"):
                    self.compare_sizes(branches[col], sa[col], sb.get(f"{col}_size"), f"{col}_size")
                if self.args.verbose:
                    branches[col]["stats"] = [sa[col], sb[col]]
        for col, b in branches.items():
            if b["status"] in ("missing", "error", "mismatch", "type-mismatch"):
                report["ok"] = False
                self.failures.append(f"{name}/{col}: {b['status']}" + (f" ({b['why']})" if "why" in b else ""))
        extra = sorted(set(cols_b) - set(cols_a))
        if extra:
            report["extra_in_output"] = extra
        report["counts"] = {
            s: sum(b["status"] == s for b in branches.values())
            for s in sorted({b["status"] for b in branches.values()})
        }
        report["branches"] = branches
        return report

    def open(self, path: str) -> Any:
        try:
            f = self.ROOT.TFile.Open(path, "READ")
        except OSError:  # PyROOT raises where TFile::Open gives nullptr
            f = None
        if not f or f.IsZombie():
            self.failures.append(f"ROOT cannot open {path}")
            return None
        return f

    def run(self) -> dict[str, Any]:
        ROOT = self.ROOT
        summary: dict[str, Any] = {"ok": False, "original": self.args.original, "output": self.args.output}
        summary["bounds"] = {"rel": self.args.rel, "abs": self.args.abs}
        fa, fb = self.open(self.args.original), self.open(self.args.output)
        if fa is None or fb is None:
            summary["trees"] = {}
        else:
            objects_a, objects_b = self.walk(fa), self.walk(fb)
            trees = [n for n, c in objects_a.items() if self.is_tree(c)]
            if not trees:
                self.failures.append(f"{self.args.original} holds no TTree")
            summary["trees"] = {}
            for name in trees:
                try:
                    summary["trees"][name] = self.compare_tree(name, fa, fb, objects_b.get(name))
                except Exception as exc:  # an event loop that threw
                    summary["trees"][name] = {"ok": False, "status": "error", "why": f"{type(exc).__name__}: {exc}"}
                    self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            summary["objects"] = {
                n: self.compare_object(n, c, objects_b, fa, fb)
                for n, c in objects_a.items()
                if not self.is_tree(c) and not self.inherits(c, "TDirectory")
            }
            fa.Close()
            fb.Close()
        messages = [str(m) for m in ROOT.balecheck.messages]
        rlog = {"errors": int(ROOT.balecheck.rlog_errors()), "warnings": int(ROOT.balecheck.rlog_warnings())}
        summary["root_messages"] = messages
        summary["rlog"] = rlog
        if messages:
            self.failures.append(f"ROOT printed {len(messages)} error/warning message(s)")
        if rlog["errors"] or rlog["warnings"]:
            self.failures.append(f"ROOT's logger counted {rlog['errors']} errors, {rlog['warnings']} warnings")
        summary["failures"] = self.failures
        summary["ok"] = not self.failures
        return summary


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("original")
    parser.add_argument("output")
    parser.add_argument("--rel", type=float, default=1e-3, help="relative bound of float values (default 1e-3)")
    parser.add_argument("--abs", type=float, default=0.0, help="absolute bound of float values (default 0)")
    parser.add_argument(
        "--allow-missing",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="branches (or trees, TREE/BRANCH, globs) allowed to be absent",
    )
    parser.add_argument(
        "--flattened", nargs="+", action="extend", default=[], metavar="NAME",
        help="vector<vector<T>> branches written back as NAME (values per entry) and NAME_size (inner sizes)",
    )  # fmt: skip
    parser.add_argument("--strict-types", action="store_true", help="a changed exact type is a failure")
    parser.add_argument("--verbose", action="store_true", help="include every branch's statistics")
    args = parser.parse_args(argv)
    for p in (args.original, args.output):
        if not Path(p).is_file():
            parser.error(f"no such file: {p}")
    summary = Check(args).run()
    sys.stdout.flush()
    print(json.dumps(_jsonable(summary), indent=1))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

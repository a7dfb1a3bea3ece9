"""Evaluate a decompression like a physicist: bounds, distributions, physics quantities, training.

``bale evaluate ORIGINAL DECOMPRESSED`` (or ``bale evaluate FILE.bale --against ORIGINAL``)
writes ``metrics.json``, the figures (``plots/*.png``) and one self-contained
``report.html`` (optionally ``report.pdf``). See ``docs/evaluate.md``.

- :mod:`bale.evaluate.metrics`: residuals, responses, max error against the bound, correlations;
- :mod:`bale.evaluate.stats`: KS and χ² against split-half baselines, the flag rule;
- :mod:`bale.evaluate.physics`: four-vectors from column names, masses, pair masses, response vs pt;
- :mod:`bale.evaluate.plots`, :mod:`bale.evaluate.physics_plots` and :mod:`bale.evaluate.report`
  (:mod:`bale.evaluate.report_sections`, :mod:`bale.evaluate.html`): figures (mplhep style) and the page;
- :mod:`bale.evaluate.results`: the report's typed models (``metrics.json``);
- :mod:`bale.evaluate.inputs`: files, bounds and training records.

Needs the ``evaluate`` extra (matplotlib, mplhep, scipy, vector).
"""

from bale.evaluate.core import DEFAULT_MAX_ROWS, evaluate, evaluate_files
from bale.evaluate.results import EvaluationReport, GridEvaluation

__all__ = ["DEFAULT_MAX_ROWS", "EvaluationReport", "GridEvaluation", "evaluate", "evaluate_files"]

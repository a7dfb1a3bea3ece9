"""``bale tune``: search model and training settings with Optuna, for the smallest honest file.

Each trial trains a model on a sample of the data with the settings Optuna suggests and
compresses the sample with it, model embedded: the objective is that file's size in
bytes, every byte counted at the user's bound (the bound holds by construction, so the
trials differ only in size). Trials whose validation loss is not promising are pruned
after a few epochs (Optuna's median pruner). The best settings come back as a config
that ``bale train --config`` and ``bale compress --config`` take.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bale.api import PathLike, training_sample
from bale.api import compress as compress_data
from bale.config import BaleConfig, load_config
from bale.errors import BaleInputError
from bale.table import Dataset
from bale.training.families import FAMILIES

__all__ = ["TuneResult", "tune"]

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    best_params: dict[str, Any]
    best_bytes: int
    raw_bytes: int
    config: BaleConfig
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best_ratio(self) -> float:
        return self.raw_bytes / self.best_bytes if self.best_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params,
            "best_bytes": self.best_bytes,
            "raw_bytes": self.raw_bytes,
            "best_ratio": round(self.best_ratio, 4),
            "trials": self.trials,
        }

    def to_toml(self) -> str:
        """The best settings as a config file (only the keys the search set)."""
        lines = ["# bale tune: the best settings found; use with --config", ""]
        sections: dict[str, list[str]] = {}
        for key, value in self.best_params.items():
            section, _, name = key.partition(".")
            text = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value
            sections.setdefault(section, []).append(f"{name} = {text}")
        for section, entries in sections.items():
            lines += [f"[{section}]", *entries, ""]
        return "\n".join(lines)


def _suggest(trial: Any, families: Sequence[str]) -> dict[str, Any]:
    family = trial.suggest_categorical("model.family", list(families))
    params: dict[str, Any] = {"model.family": family}
    if family == "conditional":
        params["model.latent_dim"] = trial.suggest_int("model.latent_dim", 0, 3)
    else:  # an autoencoder predicts from its latent
        params["model.latent_dim"] = trial.suggest_int("model.latent_dim_ae", 1, 8)
    params["model.hidden"] = trial.suggest_categorical("model.hidden", [8, 16, 32])
    if family == "ensemble":
        params["model.heads"] = trial.suggest_int("model.heads", 2, 5)
    params["train.learning_rate"] = trial.suggest_float("train.learning_rate", 3e-4, 3e-2, log=True)
    params["train.scheduler"] = trial.suggest_categorical("train.scheduler", ["plateau", "step", "cosine"])
    return params


def _apply(config: BaleConfig, params: Mapping[str, Any]) -> BaleConfig:
    cfg = config.model_copy(deep=True)
    for key, value in params.items():
        section, _, name = key.partition(".")
        setattr(getattr(cfg, section), name, value)
    return cfg


def tune(
    data: Any,
    *,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    trials: int = 20,
    timeout: float | None = None,
    families: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    quantities: Iterable[str] | None = None,
) -> TuneResult:
    """Search settings for ``data`` (see the module docstring); ``families`` limits the model types tried.

    ``quantities``: bounds on quantities of several columns (docs/codec.md), held in every trial
    as in the file the chosen settings will write.
    """
    try:
        import optuna
    except ImportError:
        raise BaleInputError("bale tune needs Optuna: pip install 'bale[tune]'") from None
    base = config if isinstance(config, BaleConfig) else load_config(config)
    chosen = list(families or FAMILIES)
    unknown = sorted(set(chosen) - set(FAMILIES))
    if unknown:
        raise BaleInputError(f"unknown model families {unknown}; known: {', '.join(FAMILIES)}")
    sample: Dataset = training_sample(data, config=base, columns=columns, tree=tree)
    if sample.num_events == 0:
        raise BaleInputError("nothing to tune on: the data has no rows")
    history: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory(prefix="bale-tune-") as tmp:
        out = Path(tmp) / "trial.bale"

        def objective(trial: Any) -> float:
            params = _suggest(trial, chosen)
            cfg = _apply(base, params)

            def report(epoch: int, val_bits: float) -> None:
                trial.report(val_bits, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            result = compress_data(
                sample, out, error=error, errors=errors, config=cfg, workers=1, on_epoch=report,
                quantities=list(quantities) if quantities else None,
            )  # fmt: skip
            size = int(result["file_bytes"])
            history.append({"number": trial.number, "params": params, "bytes": size, "ratio": result["ratio"]})
            log.info("trial %d: %s -> %d bytes (ratio %.3f)", trial.number, params, size, result["ratio"])
            return float(size)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3),
        )
        study.optimize(objective, n_trials=trials, timeout=timeout, show_progress_bar=progress)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise BaleInputError("no trial completed; allow more trials or time")
    best = min(history, key=lambda h: h["bytes"])
    pruned = [t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    for number in pruned:
        history.append({"number": number, "pruned": True})
    history.sort(key=lambda h: h["number"])
    return TuneResult(best["params"], best["bytes"], sample.nbytes, _apply(base, best["params"]), history)

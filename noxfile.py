#!/usr/bin/env python3
# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Developer tasks in fresh virtual environments: ``nox`` runs lint and the fast tests, ``nox -l`` lists all.

- ``nox -s lint``: ruff, ``mypy --strict`` (configured in pyproject.toml) and sp-repo-review, as CI runs them;
- ``nox -s tests``: the fast set (``-m "not slow"``); ``nox -s tests -- ARGS`` passes ARGS to pytest instead
  (``nox -s tests -- -q`` runs the whole suite, as CI does);
- ``nox -s docs``: the README's demo (``examples/demo.py``). The docs are Markdown read as they are:
  there is nothing to build.

The pins are those of CI: requirements-dev.txt (torch's CPU build, ruff, mypy and its stubs).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict on src/bale (it reads the types of every extra: .[test]) and sp-repo-review."""
    session.install("-r", "requirements-dev.txt", "-e", ".[test]")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples")
    session.run("mypy")
    session.run("sp-repo-review", ".")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The fast tests, or pytest with the arguments given after ``--``."""
    session.install("-r", "requirements-dev.txt", "-e", ".[test]")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q", "-m", "not slow"]))


@nox.session(python=PYTHON, default=False)
def docs(session: nox.Session) -> None:
    """The README's demo: compress, decompress, ratio and largest error on the committed jets."""
    session.install("-r", "requirements-dev.txt", "-e", ".[train]")
    session.run("python", "examples/demo.py")


if __name__ == "__main__":
    nox.main()

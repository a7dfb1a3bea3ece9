"""The ``bale`` command line: train, tune, compress, decompress, info, verify, evaluate, bench, export, init, schema.

Errors that bale raises on purpose print as one line and exit with status 2; ``--debug``
shows the traceback instead.

One module per group of commands: ``app`` (the group), ``options`` (what they share),
``compressing``, ``inspecting``, ``models``, ``judging``; ``support`` checks outputs before any
work, ``info_text`` writes ``bale info``.
"""

from __future__ import annotations

from bale.cli import compressing, inspecting, judging, models  # noqa: F401  (they register the commands)
from bale.cli.app import main

__all__ = ["main"]

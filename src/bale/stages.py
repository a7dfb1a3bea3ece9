"""What a long command is doing, said on stderr as each step starts (``bale compress``, ``bale evaluate``).

Library code calls :func:`stage` ("reading jets.parquet", "training the network"); nothing is
shown unless a command turns the lines on with :func:`show_stages`. The lines go through the
``bale.stage`` logger, so ``-v`` shows them too, and through ``tqdm.write`` so a progress bar
on screen stays whole. A step that runs on without a bar says it is still going every
``heartbeat`` seconds of silence, then after twice as long each time (2, 4, 8, ... s).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STAGE_LOGGER", "show_stages", "stage"]

STAGE_LOGGER = "bale.stage"
_log = logging.getLogger(STAGE_LOGGER)


def stage(message: str, *args: object) -> None:
    """Announce a step: one line, shown while :func:`show_stages` is on (or with ``-v``)."""
    _log.info(message, *args)


class _StageHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = time.monotonic()
        self.last = self.started
        self.message = ""
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.message = record.getMessage()
            self.write(self.message)

    def write(self, message: str) -> None:
        from tqdm import tqdm

        now = time.monotonic()
        self.last = now
        tqdm.write(f"bale [{now - self.started:6.1f} s] {message}", file=sys.stderr)


def _bars_on_screen() -> bool:
    from tqdm import tqdm

    return bool(getattr(tqdm, "_instances", None))


@contextmanager
def show_stages(enabled: bool, heartbeat: float = 2.0) -> Iterator[None]:
    """Print every :func:`stage` line on stderr while the block runs (nothing when not ``enabled``)."""
    if not enabled:
        yield
        return
    handler = _StageHandler()
    previous = (_log.level, _log.propagate)
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False  # -v would print each line a second time
    done = threading.Event()

    def beat() -> None:
        wait, said = heartbeat, ""
        while not done.wait(0.25):
            with handler.guard:
                if handler.message != said:  # a new step: the first note comes after ``heartbeat`` s again
                    wait, said = heartbeat, handler.message
                quiet = time.monotonic() - handler.last
                if handler.message and quiet >= wait and not _bars_on_screen():
                    handler.write(f"... still {handler.message}")
                    wait = min(2 * wait, 60.0)  # then less and less often

    thread = threading.Thread(target=beat, name="bale-stages", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        _log.removeHandler(handler)
        _log.setLevel(previous[0])
        _log.propagate = previous[1]

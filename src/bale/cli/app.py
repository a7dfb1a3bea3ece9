"""The ``bale`` command group: one-line errors with status 2, ``--debug`` for the traceback, signals."""

from __future__ import annotations

import contextvars
import logging
import signal
import sys
import threading
from typing import Any

import click

from bale._version import __version__
from bale.errors import BaleError

log = logging.getLogger("bale")


class _Group(click.Group):
    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """As click's, but a usage error is one line (``bale: error: ...``), not a usage block."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # plain `bale`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "bale"
            click.echo(f"bale: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:  # a context of its own: --force (no_overwrite) holds for this command only
            return contextvars.copy_context().run(super().invoke, ctx)
        except BaleError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"bale: error: {exc}", err=True)
            sys.exit(2)
        except (OSError, MemoryError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"bale: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bale")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-v", "--verbose", is_flag=True, help="Log what bale decides (predictors, training).")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """bale: error-bounded learned compression of scientific tables.

    \b
    Start with:
      bale compress jets.parquet -o jets.bale -e rel=1e-3     # train, compress, print the ratio
      bale compress jets.parquet -o jets.bale --preset kinematic
      bale decompress jets.bale -o jets_out.parquet
      bale evaluate jets.bale --against jets.parquet          # what compression did to the physics

    Each command has its own --help.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if threading.current_thread() is threading.main_thread():  # a kill unwinds like Ctrl-C: no temporary files left
        previous = signal.signal(signal.SIGTERM, _terminate)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bale").setLevel(level)


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)

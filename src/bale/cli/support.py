"""Command-line helpers: outputs checked before any work, default output names, greedy options.

Everything here fails early and in one line (:class:`~bale.errors.BaleInputError`, exit status 2):
a command that will write a file checks, before it reads or trains anything, that the file can
be written there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from bale.errors import BaleInputError

__all__ = ["GreedyCommand", "check_out_dir", "check_output", "decompressed_name", "expand_greedy"]


def _probe(folder: Path) -> None:
    """Raise unless a file can be created in ``folder`` (tried for real: permissions, read-only disks)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".bale-probe-", dir=folder)
    except OSError as exc:
        raise BaleInputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def check_output(path: str | os.PathLike[str], force: bool) -> Path:
    """Check that ``path`` can be written, before any work: its folder exists and takes files, and
    it does not exist (unless ``force``) nor is a folder."""
    out = Path(path)
    if out.is_dir():
        raise BaleInputError(f"{out} is a folder: name the file to write")
    if out.exists() and not force:
        raise BaleInputError(f"{out} exists; pass --force to overwrite it")
    folder = out.parent
    if not folder.exists():
        raise BaleInputError(f"the output folder {folder} does not exist: create it first (mkdir -p {folder})")
    if not folder.is_dir():
        raise BaleInputError(f"{folder} is not a folder, so {out} cannot be written")
    _probe(folder)
    return out


def check_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder ``path`` if needed and check it takes files, before any work."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise BaleInputError(f"{folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BaleInputError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None
    _probe(folder)
    return folder


def decompressed_name(file: str | os.PathLike[str], extension: str) -> Path:
    """The default output of ``bale decompress FILE``: beside FILE, never the original's name.

    ``x.bale`` -> ``x.decompressed.root`` (not ``x.root``, which is likely the original);
    ``x.root.bale`` -> ``x.decompressed.root``.
    """
    source = Path(file)
    base = source.with_suffix("") if source.suffix == ".bale" else source
    if base.suffix == extension:
        base = base.with_suffix("")
    return base.with_name(f"{base.name}.decompressed{extension}")


def expand_greedy(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """Repeat a greedy option before each of its values: ``--branches a b -x`` -> ``--branches a --branches b -x``.

    The first value is taken whatever it looks like; the following ones up to the next argument
    that starts with ``-`` (or ``--``, after which nothing is touched).
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        out.append(arg)
        i += 1
        if arg == "--":
            out += args[i:]
            break
        name, eq, _ = arg.partition("=")
        if name not in names:
            continue
        if not eq and i < len(args):
            out.append(args[i])
            i += 1
        while i < len(args) and not args[i].startswith("-"):
            out += [name, args[i]]
            i += 1
    return out


class GreedyCommand(click.Command):
    """A command whose ``--branches`` and ``--columns`` take every value that follows: ``--branches 'Jet_*' 'Muon_*'``.

    The arguments are rewritten before click parses them (``parse_args``, a public hook), so the
    option itself is an ordinary ``multiple=True`` option.
    """

    greedy_options: tuple[str, ...] = ("--branches", "--columns")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_greedy(args, self.greedy_options))

"""``python -m bale.cli``: the ``bale`` command."""

from bale.cli import main

main()

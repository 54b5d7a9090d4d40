"""``python -m qapigen``: the command line."""

from .cli.commands import main

raise SystemExit(main())

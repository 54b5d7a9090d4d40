"""``python -m qapigen``: the command line."""

from .cli import main

raise SystemExit(main())

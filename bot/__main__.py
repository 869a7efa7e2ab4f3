"""`python -m bot ...`: the same command line as the `bot` console script."""
from bot.ops.cli import main

raise SystemExit(main())

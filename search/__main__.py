"""Run the command line: python -m search."""

from search.cli import main

raise SystemExit(main())

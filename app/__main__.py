"""`python -m app ...` is the `aisle` command."""

from app.cli import main

raise SystemExit(main())

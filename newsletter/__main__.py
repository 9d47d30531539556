"""Allow `python -m newsletter`."""

from newsletter.cli import main

raise SystemExit(main())

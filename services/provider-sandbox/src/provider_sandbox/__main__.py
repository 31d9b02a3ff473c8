"""``python -m provider_sandbox`` runs the same command as ``provider-sandbox``."""

from .cli import main

raise SystemExit(main())

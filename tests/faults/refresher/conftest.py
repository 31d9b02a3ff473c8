"""The refresher fault suite reuses the integration fixtures (sandbox, Redis, seeded accounts)."""

from tests.integration.refresher.conftest import strava_setup  # noqa: F401  (fixture)

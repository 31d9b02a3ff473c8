"""activity-api: cached activity summaries for personal sites, and Strava's webhooks."""

"""What every paceline web service shares: health, metrics, errors, gunicorn setup."""

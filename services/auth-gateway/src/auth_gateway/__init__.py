"""auth-gateway: the admin-only OAuth bootstrap; the only way tokens enter paceline."""

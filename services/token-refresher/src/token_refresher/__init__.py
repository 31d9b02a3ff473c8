"""token-refresher: one pass that keeps every connected account's tokens fresh."""

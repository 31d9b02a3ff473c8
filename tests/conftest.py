"""Shared fixtures: a real redis-server on a free port, the sandbox, runtimes wired to both."""

pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.sandbox", "tests.fixtures.runtime"]

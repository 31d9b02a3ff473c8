"""paceline core library.

Settings, the provider registry, the credential model, the token store (Redis plus a Secret
mirror), locks, the upstream OAuth client, logging with redaction and metric definitions.
Services import this package; they never import each other.
"""

__version__ = "0.1.0"

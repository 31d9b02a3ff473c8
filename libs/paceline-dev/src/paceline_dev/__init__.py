"""paceline's development harness, shared by the tests, the benchmarks and ``make demo``.

``make venv`` installs it into the development virtualenv only; the images never have it.
"""

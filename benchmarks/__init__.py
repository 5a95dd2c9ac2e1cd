"""Performance benchmarks, one module each, run as ``python -m benchmarks.<name>`` (see benchmarks/README.md).

Each prints a table of figures measured side by side in one run and writes them, with the
machine they were measured on, to ``benchmarks/results/<name>.json``.
"""

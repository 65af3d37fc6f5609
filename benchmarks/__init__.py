"""Benchmarks of flow_notebook against its targets, run with ``python -m benchmarks``.

Every benchmark runs on this machine, against the local provider and the Mithril
sandbox, and the run writes ``docs/benchmarks.md``: one table of targets and
measured figures, the machine, the date, and the details behind each row.
"""

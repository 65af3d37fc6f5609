"""A fake Mithril Compute API on 127.0.0.1 whose instances are real SSH servers.

Run ``python -m flow_notebook.sandbox``; see ``docs/sandbox.md``. Pytest fixtures
live in ``flow_notebook.sandbox.testing``.
"""

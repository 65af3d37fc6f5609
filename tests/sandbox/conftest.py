"""Sandbox fixtures (until the top-level conftest lists the plugin)."""

from flow_notebook.sandbox.testing import fresh_sandbox, mithril_sandbox, require_ssh  # noqa: F401

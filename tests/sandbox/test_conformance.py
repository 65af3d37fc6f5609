"""Schemathesis checks the sandbox against Mithril's OpenAPI document.

Every operation of the document is run (the sandbox serves them all). Two checks are left out on
purpose: ``status_code_conformance`` (the document lists no 401/404/400, which the
API does answer) and ``positive_data_acceptance`` (the API's own rules, such as
the ``"$25.60"`` price format and quotas, are stricter than the schemas).
"""

from __future__ import annotations

import subprocess
import sys

from flow_notebook.sandbox.spec import spec_path
from flow_notebook.sandbox.testing import start_sandbox, stop_sandbox


def test_sandbox_conforms_to_the_openapi_document(tmp_path):
    spec = spec_path()
    sandbox = start_sandbox(tmp_path / "root", "--no-instances")
    try:
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"query.project" = "{sandbox.project}"\n')
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            str(spec),
            "--url",
            sandbox.url,
            "--header",
            f"Authorization: Bearer {sandbox.api_key}",
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--checks",
            "all",
            "--exclude-checks",
            "status_code_conformance,positive_data_acceptance",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--workers",
            "1",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    finally:
        stop_sandbox(sandbox)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout

"""SSH key generation for ``POST /v2/ssh-keys`` and instance host keys."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path


def generate_host_key(path: Path) -> None:
    """Writes a new ed25519 host key to ``path`` (and ``path.pub``)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sandbox-host", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def generate_key_pair(comment: str) -> tuple[str, str]:
    """Returns a new ``(private_key, public_key)`` pair in OpenSSH text form.

    Uses ``ssh-keygen`` (ed25519) when present, else paramiko (RSA 2048).
    """
    if shutil.which("ssh-keygen"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "key"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                check=True,
                capture_output=True,
            )
            return path.read_text(), path.with_suffix(".pub").read_text().strip()
    import paramiko  # Only when ssh-keygen is missing; paramiko is slow to import.

    key = paramiko.RSAKey.generate(2048)
    buffer = io.StringIO()
    key.write_private_key(buffer)
    return buffer.getvalue(), f"{key.get_name()} {key.get_base64()} {comment}"

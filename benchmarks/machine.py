"""What the benchmarks ran on: cores, memory, CPU model, Python, OS, tool versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path


def cpu_model() -> str:
    """Returns the CPU model name from ``/proc/cpuinfo`` (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    """Returns the total memory in GiB (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def tool_version(command: list[str]) -> str:
    """Returns the first line ``command`` prints, or ``missing``."""
    if shutil.which(command[0]) is None:
        return "missing"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def describe() -> list[tuple[str, str]]:
    """Returns (fact, value) pairs describing this machine."""
    return [
        ("CPU", cpu_model()),
        ("cores", str(os.cpu_count())),
        ("memory", f"{memory_gib():.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("OpenSSH", tool_version(["ssh", "-V"])),
        ("rsync", tool_version(["rsync", "--version"])),
    ]

"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_line() -> str:
    """One line: CPU model, logical cores and the cores this process may use."""
    return f"CPU: {cpu_model()}; logical cores: {os.cpu_count()}; usable: {len(os.sched_getaffinity(0))}"

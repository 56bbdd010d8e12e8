"""The machine and library versions a benchmark ran on."""

import datetime
import importlib.metadata
import os
import platform

# Name shown: distributions that provide it, first installed wins.
PACKAGES = {
    "keras": ("keras",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow_cpu"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "torch": ("torch",),
    "numpy": ("numpy",),
}


def _first_line_value(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def version(distributions):
    """Version of the first installed distribution, or ``"not installed"``."""
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def describe():
    """CPU model, cores, memory, OS, Python and package versions, date."""
    memory = _first_line_value("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first_line_value("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: version(dists) for name, dists in PACKAGES.items()},
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def markdown(info):
    """The description as a short Markdown list."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return "\n".join([
        f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB memory",
        f"- OS: {info['os']}, Python {info['python']}",
        f"- Versions: {versions}",
        f"- Last run: {info['date']}",
    ])

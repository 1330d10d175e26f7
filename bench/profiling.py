"""Where a server's CPU goes per request: py-spy samples summarised by package and function.

py-spy is a developer tool, not a project dependency: `.venv/bin/pip install py-spy`.
Summarise an existing raw (collapsed-stack) profile:

    .venv/bin/python -m bench.profiling bench/results/profile-service-earn-c64.txt
    .venv/bin/python -m bench.profiling FILE --focus authenticate,apply_change,Connection.reset
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY_INSTALL_HINT = "py-spy not found: `.venv/bin/pip install py-spy` (not in the lock)."
# A frame as py-spy writes it: "function (path/to/file.py:123)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")
SITE_PACKAGES = re.compile(r"^(?:.*/)?(?:site|dist)-packages/")


def py_spy_path() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start_recording(server_pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample the server and all its workers at 100 Hz without pausing them."""
    py_spy = py_spy_path()
    if py_spy is None:
        sys.exit(PY_SPY_INSTALL_HINT)
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server_pid),
            "--subprocesses",
            "--nonblocking",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _frame_names(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME.match(raw)
        if match and not raw.startswith("process "):
            module = SITE_PACKAGES.sub("", match["file"])
            frames.append((match["function"], module))
    return frames


def _package(module: str) -> str:
    if module.startswith("<"):
        return module
    if not module.endswith(".py"):
        return "<generated>"  # code Sanic compiles at start-up (handle_request, send, ...)
    first = module.split("/")[0]
    return first if "/" in module else "stdlib:" + first.removesuffix(".py")


# Frames under nearly every sample (process bootstrap, the server loop) say nothing.
SCAFFOLDING_SHARE = 0.8


def _shares(counter: Counter[str], total: int, top: int, skip_scaffolding: bool) -> list[str]:
    rows = [
        (name, n)
        for name, n in counter.most_common()
        if not (skip_scaffolding and n >= SCAFFOLDING_SHARE * total)
    ]
    return [f"  {100 * n / total:5.1f}  {name}" for name, n in rows[:top]]


def summarise(raw_profile: Path, top: int = 25) -> str:
    """Self and inclusive share of busy samples, per package and per function."""
    self_package: Counter[str] = Counter()
    inclusive_package: Counter[str] = Counter()
    inclusive_function: Counter[str] = Counter()
    self_function: Counter[str] = Counter()
    total = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frame_names(stack)
        if not frames:
            continue
        total += count
        for package in {_package(module) for _, module in frames}:
            inclusive_package[package] += count
        for name in {f"{function} ({module})" for function, module in frames}:
            inclusive_function[name] += count
        leaf_function, leaf_module = frames[-1]
        self_function[f"{leaf_function} ({leaf_module})"] += count
        self_package[_package(leaf_module)] += count
    if total == 0:
        return f"{raw_profile}: no samples"
    return "\n".join(
        [
            f"{raw_profile.name}: {total} busy samples (100 Hz, all workers); C code (uvloop,"
            " asyncpg protocol, ujson) counts under the Python frame that called it",
            "self % by package:",
            *_shares(self_package, total, top, False),
            f"inclusive % by package (those under >= {SCAFFOLDING_SHARE:.0%} left out):",
            *_shares(inclusive_package, total, top, True),
            "inclusive % by function:",
            *_shares(inclusive_function, total, top, True),
            "self % by function:",
            *_shares(self_function, total, top, False),
        ]
    )


def focus(raw_profile: Path, names: list[str]) -> str:
    """Inclusive share of busy samples under any frame whose function name contains each name."""
    under: Counter[str] = Counter()
    total = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        total += int(count_text)
        functions = [function for function, _ in _frame_names(stack)]
        for name in names:
            if any(name in function for function in functions):
                under[name] += int(count_text)
    return "\n".join(f"  {100 * under[name] / max(total, 1):5.1f}  under {name}" for name in names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy raw (collapsed) files")
    parser.add_argument("--focus", help="comma-separated function names: inclusive % of each")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for profile_path in args.profiles:
        if args.focus:
            print(f"{profile_path.name}:\n{focus(profile_path, args.focus.split(','))}")
        else:
            print(summarise(profile_path, args.top))

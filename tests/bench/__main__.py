"""``uv run just bench``: run every benchmark module and print one table.

Each ``bench_*.py`` module has ``run() -> list[Row]``; every row measures ours and the named
peer in the same run, on this machine, so the ratio is what matters.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import tests.bench
from tests.bench._table import Row, render


def main() -> int:
    parser = argparse.ArgumentParser(prog="just bench")
    parser.add_argument("only", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args()
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(tests.bench.__path__)
        if info.name.startswith("bench_")
    )
    if args.only:
        names = [n for n in names if any(o in n for o in args.only)]
    rows: list[Row] = []
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(f"tests.bench.{name}")
        rows += module.run()
        sys.stderr.write(f"{name}: {time.perf_counter() - started:.1f}s\n")
    sys.stdout.write(render(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

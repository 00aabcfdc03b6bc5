"""Experiment behind BENCHMARKS.md's memory note: Python heap peak (tracemalloc) of a real sync that creates N
variables, with the engine's Applier as it is and with a variant that hands the writes to `concurrency` worker threads
through one iterator instead of submitting a future per write (ThreadPoolExecutor.map submits them all at once).

    python bench/apply_memory.py [--sizes 1000,10000]

The variant is patched in here only, to measure it; it is a proposal, not the engine's code. The emulator runs in a
child process, so its memory is not counted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bbvars.sync.applier as applier  # noqa: E402
from bench.emulator_process import start_emulator  # noqa: E402
from bench.run import make_variables, prepare_namespace, run_sync, settings_for, target_for  # noqa: E402


def execute_with_pool_map(self, writes) -> None:
    """Applier.execute as it was: ThreadPoolExecutor.map, which queues a future and a work item per write up front."""
    with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bbvars") as pool:
        for _ in pool.map(lambda item: self._write(*item), writes):
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    original = applier.Applier.execute
    print("| Applier | N | created | Python heap peak during the sync | per variable | wall time (no latency) |")
    print("|---|---:|---:|---:|---:|---:|")
    with start_emulator("process", 0.0) as emulator:
        for label, run in (("before: ThreadPoolExecutor.map", execute_with_pool_map),
                           ("now: worker threads over an iterator", original)):
            applier.Applier.execute = run
            try:
                for n in sizes:
                    workspace = f"applymem{n}-{run.__name__}"
                    prepare_namespace(emulator, workspace)
                    settings = settings_for(emulator, target_for("repository", workspace), args.concurrency)
                    variables = make_variables(n)
                    gc.collect()
                    tracemalloc.start()
                    started = time.perf_counter()
                    result = run_sync(settings, variables)
                    seconds = time.perf_counter() - started
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    print(f"| {label} | {n:,} | {len(result.created):,} | {peak / 2**20:.1f} MiB | "
                          f"{peak / n:,.0f} B | {seconds:.1f} s |", flush=True)
            finally:
                applier.Applier.execute = original
    return 0


if __name__ == "__main__":
    sys.exit(main())

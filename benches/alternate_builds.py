#!/usr/bin/env python3
"""Before → after of two builds of `bench_report`, run alternately in one sitting.

On a noisy machine two runs minutes apart differ more than most changes do, so a
comparison of builds alternates them (base, new, base, new, …) and compares each pair
of neighbouring runs: the ratio per engine and workload is the median of the per-pair
ratios new / base, beside each build's median ns per task.

    cargo build --release --example bench_report          # at the base commit, then:
    cp target/release/examples/bench_report /tmp/br_base   # (and the new build to /tmp/br_new)
    python3 benches/alternate_builds.py /tmp/br_base /tmp/br_new --runs 3 -- --compare --quick

Everything after `--` goes to both binaries (`--compare --quick` by default); each run
writes its tables with `--markdown`, which this reads back. `--no-dask` hides Dask from
both (its rounds take minutes and do not change between builds).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ENGINES = ["static", "dynamic", "futures", "rayon", "dagx", "Taskflow"]


def parse(markdown):
    """{(workload, tasks, engine): ns per task} from the first table whose header names
    the engines; a cell's first number is its median."""
    out = {}
    columns = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None if not line.strip() else columns
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["workload", "tasks"]:
            columns = cells
            continue
        if columns is None or cells[0].startswith("---"):
            continue
        if "engine" in columns:
            # The scaling table: an engine per row, a speed-up per thread count.
            for i, column in enumerate(columns):
                speedup = re.search(r"([0-9]+(?:\.[0-9]+)?)x", cells[i]) if "thread" in column else None
                if speedup:
                    out[(cells[0], cells[1], f"{cells[columns.index('engine')]}, {column}")] = float(
                        speedup.group(1)
                    )
            continue
        for engine in ENGINES:
            if engine not in columns:
                continue
            cell = cells[columns.index(engine)]
            number = re.match(r"^([0-9]+(?:\.[0-9]+)?)", cell)
            if number:
                out[(cells[0], cells[1], engine)] = float(number.group(1))
    return out


def figure(value):
    """ns per task as a whole number; a speed-up with two decimals."""
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def run(binary, args, env):
    with tempfile.NamedTemporaryFile(suffix=".md") as md:
        subprocess.run(
            [binary, *args, "--markdown", md.name],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(md.name, encoding="utf-8") as f:
            return parse(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=3, help="runs of each build (default 3)")
    ap.add_argument("--no-dask", action="store_true", help="hide Dask from both builds")
    argv = sys.argv[1:]
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args = rest or ["--compare", "--quick"]
    env = dict(os.environ)
    stub = None
    if a.no_dask:
        # A `python3` that fails first on PATH: bench_report then reports Dask missing.
        stub = tempfile.TemporaryDirectory()
        path = os.path.join(stub.name, "python3")
        with open(path, "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(path, 0o755)
        env["PATH"] = stub.name + os.pathsep + env.get("PATH", "")
    base_runs, new_runs = [], []
    for i in range(a.runs):
        for label, binary, runs in (("base", a.base, base_runs), ("new", a.new, new_runs)):
            print(f"run {i + 1} of {a.runs}: {label}", file=sys.stderr, flush=True)
            runs.append(run(binary, args, env))
    keys = [k for k in base_runs[0] if all(k in r for r in base_runs + new_runs)]
    print(f"base: {a.base}\nnew:  {a.new}\nbench_report {' '.join(args)}, {a.runs} alternated runs of each\n")
    print(
        "ns per task (speed-ups for --scaling), median of the runs; new/base: median of "
        "the per-pair ratios [lowest–highest]\n"
    )
    print("| workload | tasks | engine | base | new | new/base |")
    print("|---|---|---|---|---|---|")
    for key in keys:
        base = [r[key] for r in base_runs]
        new = [r[key] for r in new_runs]
        ratios = sorted(n / b for b, n in zip(base, new) if b > 0)
        if not ratios or set(base + new) == {1.0}:
            continue  # no figure, or the 1-thread baseline of a speed-up
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | {figure(statistics.median(base))} | "
            f"{figure(statistics.median(new))} | {statistics.median(ratios):.2f} "
            f"[{ratios[0]:.2f}–{ratios[-1]:.2f}] |"
        )
    if stub:
        stub.cleanup()


if __name__ == "__main__":
    main()

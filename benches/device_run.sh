#!/usr/bin/env bash
# The many-core figures of BENCHMARKS.md in one prepared, time-boxed run: a lent
# machine (16 cores, no Rust toolchain) runs binaries built here, within minutes of
# device time, so everything is built and checked before the machine starts.
#
#   benches/device_run.sh build        # here: release binaries into benchbin/
#   benches/device_run.sh run OUT      # there (or here, to rehearse): figures into OUT
#
# `build` needs Taskflow's headers for the C++ peer (benches/peers/taskflow_peer.cpp
# says how to fetch them; `TASKFLOW=/path/to/taskflow`, default /tmp/taskflow), and
# skips the peer without them. benchbin/ must be ignored by git (this repository's
# .git/info/exclude: `echo benchbin/ >> .git/info/exclude`) and carried to the machine
# (the device tool's `carry: ["benchbin"]`), whose command is then
#
#   bash benches/device_run.sh run "$OUT"
#
# `run` writes one file per step into OUT, each step under a time limit of its own so
# that a step that overruns loses only its own figures: the machine and the threads
# it has (machine.txt); `bench_report --scaling 1,2,4,8,16` three times (10 µs tasks:
# the speed-ups of every engine, scaling-N.md); the overhead table at 16 threads,
# engines alternated with the Taskflow peer (overhead-16.md); and the futures client's
# submission alone and its fan-in with and without the submission, at 1 and 16 threads
# (futures-loop.txt). About four minutes on a 16-core machine; the limits add up to
# under nine, inside one call of the device tool (ten minutes at most).
set -u

mode=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/benchbin

case "$mode" in
build)
    cd "$here" || exit 1
    cargo build --release -p taskweave-benches \
        --example bench_report --example futures_loop --example dynamic_phases || exit 1
    mkdir -p "$bin"
    for example in bench_report futures_loop dynamic_phases; do
        cp "target/release/examples/$example" "$bin/" || exit 1
    done
    taskflow=${TASKFLOW:-/tmp/taskflow}
    if [ -f "$taskflow/taskflow/taskflow.hpp" ]; then
        # Static C++ runtime: the lent machine's libstdc++ may be older than this one's.
        g++ -O2 -std=c++20 -pthread -static-libstdc++ -static-libgcc -I"$taskflow" \
            benches/peers/taskflow_peer.cpp -o "$bin/taskflow_peer" || exit 1
    else
        echo "no Taskflow headers at $taskflow: the peer is skipped" >&2
        rm -f "$bin/taskflow_peer"
    fi
    git check-ignore -q benchbin/ ||
        echo "benchbin/ is not ignored by git: add it to .git/info/exclude to carry it" >&2
    ls -l "$bin"
    ;;
run)
    out=${2:?"run OUT: the folder for the figures"}
    mkdir -p "$out"
    for example in bench_report futures_loop; do
        [ -x "$bin/$example" ] || { echo "no $bin/$example: run 'build' first" >&2; exit 1; }
    done
    # Each step: its limit in seconds, its output file, the command.
    step() {
        local limit=$1 file=$2
        shift 2
        local start=$SECONDS
        timeout "$limit" "$@" >>"$out/$file" 2>&1
        local rc=$?
        echo "$(date -u +%H:%M:%S) $file: rc=$rc in $((SECONDS - start)) s: $*" | tee -a "$out/steps.txt"
    }
    {
        date -u
        nproc
        lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|Thread|Socket|NUMA node\(s\)'
        free -g 2>/dev/null | head -2
        ldd --version 2>/dev/null | head -1
        uptime
    } >"$out/machine.txt" 2>&1
    export TASKWEAVE_TASKFLOW=
    [ -x "$bin/taskflow_peer" ] && export TASKWEAVE_TASKFLOW=$bin/taskflow_peer
    for i in 1 2 3; do
        step 100 "scaling-$i.md" "$bin/bench_report" --scaling 1,2,4,8,16
    done
    step 150 overhead-16.md "$bin/bench_report" --compare --warm --threads 16
    for threads in 1 16; do
        for shape in fan_in_10us fan_in_10us_held submit_10us; do
            step 40 futures-loop.txt env THREADS="$threads" "$bin/futures_loop" "$shape" 100
        done
    done
    uptime >>"$out/machine.txt"
    ;;
*)
    echo "usage: $0 build | run OUT" >&2
    exit 2
    ;;
esac

# The driver of taskweave's HyperQueue Python transport (`remote::HyperQueuePython`),
# written into the transport's directory and run with `python3 DRIVER ARGS`.
#
#   python3 hq_driver.py local CORES SERVER_DIR   start a LocalCluster (server + one worker)
#   python3 hq_driver.py connect SERVER_DIR       use a running server
#
# Protocol: answers go to the standard output this process was started with (the
# HyperQueue library's own printing is sent to the error output). First one line,
# `ready VERSION SERVER_DIR`, or `error MESSAGE`. Then, per line read on the standard
# input (the path of a job description, JSON), the job is submitted as one HyperQueue
# job, waited for, and answered with `done JOB_ID FAILED_COUNT`, each failed task's
# HyperQueue error written to its `hq_error` file first; or `error MESSAGE`. At the end
# of the input the cluster (when it started one) is stopped and the driver exits.
import json
import os
import sys
import traceback

answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def answer(line):
    answers.write(line.replace("\n", " | ") + "\n")
    answers.flush()


def cut_backtrace(text):
    """HyperQueue's errors come from its Rust core, with the core's backtrace when
    RUST_BACKTRACE or RUST_LIB_BACKTRACE is set (as this process inherits): some 20 KB
    of its frames. The message is what comes before."""
    return text.split("\n\nStack backtrace:", 1)[0]


def describe(error):
    """An exception in one readable line: its type and message, without the core's
    backtrace (repr() escaped the message's line breaks)."""
    return f"{type(error).__name__}: {cut_backtrace(str(error))}"


# No progress bar in the log (tqdm reads this when the API imports it).
os.environ.setdefault("TQDM_DISABLE", "1")

try:
    import hyperqueue
    from hyperqueue import Client, Job
    from hyperqueue.cluster import LocalCluster, WorkerConfig
except Exception as error:  # no hyperqueue: say so, in one line
    answer(f"error cannot import hyperqueue with {sys.executable}: {describe(error)}")
    sys.exit(2)

version = getattr(hyperqueue, "__version__", None)
if version is None:
    try:
        from importlib.metadata import version as package_version

        version = package_version("hyperqueue")
    except Exception:
        version = "unknown"

cluster = None
try:
    if sys.argv[1] == "local":
        cluster = LocalCluster(
            server_dir=sys.argv[3], worker_config=WorkerConfig(cores=int(sys.argv[2]))
        )
        client = cluster.client()
        server_dir = sys.argv[3]
    else:
        server_dir = sys.argv[2]
        client = Client(server_dir)
except Exception as error:
    answer(f"error cannot start or reach the HyperQueue server: {describe(error)}")
    sys.exit(2)

answer(f"ready {version} {server_dir}")


def run(path):
    with open(path) as file:
        description = json.load(file)
    job = Job(max_fails=None, name=description["name"])
    tasks = []
    for task in description["tasks"]:
        tasks.append(
            job.program(
                task["command"],
                env=task["env"],
                cwd=task["cwd"],
                stdout=task["stdout"],
                stderr=task["stderr"],
                deps=[tasks[d] for d in task["deps"]],
            )
        )
    submitted = client.submit(job)
    ok = client.wait_for_jobs([submitted], raise_on_error=False)
    failed = {} if ok else client.get_failed_tasks(submitted)
    for task_id, context in failed.items():
        target = description["tasks"][task_id]["hq_error"]
        with open(target + ".tmp", "w") as file:
            file.write(cut_backtrace(str(context.error)))
        os.replace(target + ".tmp", target)
    client.forget(submitted)
    return f"done {submitted.id} {len(failed)}"


try:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            answer(run(line))
        except Exception:
            answer("error " + cut_backtrace(traceback.format_exc()))
finally:
    if cluster is not None:
        cluster.stop()

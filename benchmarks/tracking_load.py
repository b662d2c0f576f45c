"""How much step logging the team's MLflow server takes, against the project's SQLite store.

    python benchmarks/tracking_load.py [--clients 4] [--seconds 60] [--batch 128]

Starts `synthset services` (PostgreSQL and an MLflow server) in a throw-away directory on free
loopback ports, and a fresh SQLite store beside it. For each store in turn, ``--clients`` processes
each open a run and, for ``--seconds``, send ``log_batch`` calls of ``--batch`` step metrics, as a
GAN run does after each epoch (the default 128: 32 steps x 4 metrics, one MNIST epoch at the
default scale). Prints metrics/s, calls/s and the p50/p99 latency of one ``log_batch`` per store,
and the server's numbers as ratios of SQLite's, measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path

KEYS = ["d_loss", "g_loss", "d_acc_real", "d_acc_fake"]


def client(uri: str, experiment_id: str, batch: int, seconds: float, start_at: float, results) -> None:
    """One logging process: log_batch of ``batch`` metrics until the time is up; its latencies."""
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(experiment_id).info.run_id
    latencies, step = [], 0
    while time.time() < start_at:  # every client starts together
        time.sleep(0.01)
    end = start_at + seconds
    while time.time() < end:
        now = int(time.time() * 1000)
        metrics = [Metric(KEYS[i % len(KEYS)], float(i), now, step + i // len(KEYS)) for i in range(batch)]
        began = time.perf_counter()
        client.log_batch(run_id, metrics=metrics, synchronous=True)
        latencies.append(time.perf_counter() - began)
        step += batch // len(KEYS)
    client.set_terminated(run_id)
    results.put(latencies)


def load(uri: str, clients: int, batch: int, seconds: float) -> dict[str, float]:
    import mlflow

    experiment_id = mlflow.MlflowClient(uri).create_experiment(f"load-{time.time_ns()}")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 8  # time for every client to import MLflow and open its run
    processes = [context.Process(target=client, args=(uri, experiment_id, batch, seconds, start_at, results))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    latencies = [value for _ in processes for value in results.get(timeout=seconds + 300)]
    for process in processes:
        process.join()
    latencies.sort()
    return {"calls": len(latencies), "metrics_per_s": len(latencies) * batch / seconds,
            "calls_per_s": len(latencies) / seconds, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=128, help="metrics per log_batch call (default: one GAN epoch)")
    args = parser.parse_args()

    from synthset import services

    home = Path(tempfile.mkdtemp(prefix="synthset-load-"))
    home.chmod(0o755)
    try:
        running = services.up(services.Services("127.0.0.1", services.free_port(), services.free_port()), home / ".services")
        stores = {"sqlite": f"sqlite:///{home / 'mlflow.db'}", "server": running.tracking_uri}
        import mlflow

        mlflow.MlflowClient(stores["sqlite"]).search_experiments()  # create the SQLite schema before timing
        found = {}
        for name, uri in stores.items():
            print(f"[load] {args.clients} clients x {args.seconds:.0f} s, {args.batch} metrics per call -> {name}",
                  flush=True)
            found[name] = load(uri, args.clients, args.batch, args.seconds)
    finally:
        services.down(home / ".services")
        shutil.rmtree(home, ignore_errors=True)

    print(f"\n{'store':<8}{'calls':>8}{'metrics/s':>12}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, row in found.items():
        print(f"{name:<8}{row['calls']:>8}{row['metrics_per_s']:>12.0f}{row['calls_per_s']:>10.1f}"
              f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}")
    server, sqlite = found["server"], found["sqlite"]
    print(f"\nserver / sqlite: metrics/s x{server['metrics_per_s'] / sqlite['metrics_per_s']:.2f}, "
          f"p50 x{server['p50_ms'] / sqlite['p50_ms']:.2f}, p99 x{server['p99_ms'] / sqlite['p99_ms']:.2f}")


if __name__ == "__main__":
    main()

"""``synthset services up|down|status``: the team's tracking services on this machine.

A PostgreSQL cluster (Debian's ``postgresql`` package) with two databases, ``mlflow`` (the MLflow
server's backend store) and ``optuna`` (shared sweep studies), and ``mlflow server`` on top of it,
serving run artifacts from a local directory (``--artifacts-destination``), so clients need no
access to the server's disk. Everything lives in ``.services/`` (git-ignored); ``down`` stops the
processes and keeps the data, so ``up`` brings back every run and study.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from synthset.errors import SynthsetError

SERVICES_DIR = Path(".services")
STATE_FILE = "services.json"
DATABASES = ("mlflow", "optuna")
USER = "synthset"


@dataclass(frozen=True)
class Services:
    """Where the services listen; written to ``.services/services.json`` by ``up``."""

    host: str = "127.0.0.1"
    postgres_port: int = 5433
    mlflow_port: int = 5000
    mlflow_pid: int | None = None

    def database_url(self, database: str, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{USER}@{self.host}:{self.postgres_port}/{database}"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def optuna_storage(self) -> str:
        return self.database_url("optuna")

    def exports(self) -> str:
        """The shell lines that point MLflow and `synthset sweep` (its default --storage) at the services."""
        return f"export MLFLOW_TRACKING_URI={self.tracking_uri}\nexport SYNTHSET_OPTUNA_STORAGE={self.optuna_storage}"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries directory (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SynthsetError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run "
                            "`bash scripts/services.sh up`, which installs Debian's postgresql package, "
                            "or `apt-get install postgresql`")
    return found[-1].parent


class Cluster:
    """The PostgreSQL cluster in ``directory``; run as the ``postgres`` user when we are root
    (``initdb`` and ``postgres`` refuse to run as root)."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1"):
        self.data, self.port, self.host = Path(directory), port, host
        self.bin = postgres_bin()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def log_file(self) -> Path:
        return self.data.parent / "postgres.log"

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.as_owner, *command], capture_output=True, text=True)
        if result.returncode != 0:
            raise SynthsetError(f"{' '.join(command[:2])} failed (exit {result.returncode}):\n"
                                f"{(result.stdout + result.stderr).strip()[-1500:]}")
        return result

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return subprocess.run([*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                              capture_output=True).returncode == 0

    def init(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self._own(self.data.parent)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        if self.running():
            return
        self._own(self.data.parent)
        # The socket lives in the data directory: /var/run/postgresql may not exist or be writable.
        options = f"-p {self.port} -c listen_addresses={self.host} -k {self.data.resolve()}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
                  "-o", options, "start")

    def create_databases(self) -> None:
        existing = self._run(str(self.bin / "psql"), "-h", self.host, "-p", str(self.port), "-U", USER, "-d",
                             "postgres", "-Atc", "select datname from pg_database").stdout.split()
        for name in DATABASES:
            if name not in existing:
                self._run(str(self.bin / "createdb"), "-h", self.host, "-p", str(self.port), "-U", USER, name)

    def stop(self) -> None:
        if self.running():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _own(self, directory: Path) -> None:
        if self.as_owner:
            for path in [directory, *directory.rglob("*")]:
                if path.name != "mlartifacts" and "mlartifacts" not in path.parts:
                    shutil.chown(path, "postgres", "postgres")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for throw-away services: tests, benchmarks)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(services: Services) -> bool:
    try:
        with urllib.request.urlopen(f"{services.tracking_uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def read_state(directory: Path = SERVICES_DIR) -> Services | None:
    state = directory / STATE_FILE
    return Services(**json.loads(state.read_text())) if state.exists() else None


def up(services: Services, directory: Path = SERVICES_DIR, wait_s: float = 120,
       allowed_hosts: str | None = None) -> Services:
    """Start PostgreSQL (creating the cluster and databases on first use) and the MLflow server;
    return the running services. Already running: nothing is started twice. ``allowed_hosts``: the
    server's ``--allowed-hosts`` (Host headers it answers beyond localhost and private addresses)."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    running = read_state(directory)
    if running and pid_alive(running.mlflow_pid) and healthy(running):
        print(f"[services] already running (pid {running.mlflow_pid})", flush=True)
        return running
    cluster = Cluster(directory / "postgres", services.postgres_port, services.host)
    # Both ports first, so that a clash costs nothing and names the option that moves it.
    taken = [(name, port, option) for name, port, option, ours in (
        ("PostgreSQL", services.postgres_port, "--postgres-port", cluster.running()),
        ("the MLflow server", services.mlflow_port, "--mlflow-port", False)) if not ours and port_taken(services.host, port)]
    for name, port, option in taken:
        raise SynthsetError(f"port {port} on {services.host} is in use, so {name} cannot listen there: "
                            f"stop what uses it or pass {option}")
    if not cluster.initialised():
        print(f"[services] creating the PostgreSQL cluster in {cluster.data}", flush=True)
        cluster.init()
    cluster.start()
    cluster.create_databases()
    print(f"[services] PostgreSQL on {services.host}:{services.postgres_port} (databases {', '.join(DATABASES)})",
          flush=True)

    artifacts = directory / "mlartifacts"
    artifacts.mkdir(exist_ok=True)
    log = (directory / "mlflow.log").open("ab")
    # Its own process group: `down` stops the server and its workers together.
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", services.database_url("mlflow", "psycopg"),
         "--artifacts-destination", str(artifacts), "--host", services.host, "--port", str(services.mlflow_port),
         "--workers", "2", *(["--allowed-hosts", allowed_hosts] if allowed_hosts else [])],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    started = Services(services.host, services.postgres_port, services.mlflow_port, server.pid)
    (directory / STATE_FILE).write_text(json.dumps(asdict(started), indent=2))
    deadline = time.monotonic() + wait_s
    while not healthy(started):
        if server.poll() is not None or time.monotonic() > deadline:
            tail = (directory / "mlflow.log").read_text(errors="replace")[-2000:]
            _stop_server(server.pid)
            raise SynthsetError(f"the MLflow server did not come up on {started.tracking_uri} "
                                f"(see {directory / 'mlflow.log'}):\n{tail}")
        time.sleep(0.5)
    print(f"[services] MLflow server on {started.tracking_uri} (pid {server.pid}), artifacts in {artifacts}", flush=True)
    return started


def down(directory: Path = SERVICES_DIR) -> None:
    """Stop the MLflow server and PostgreSQL; keep every run, artifact and study."""
    directory = directory.resolve()
    state = read_state(directory)
    if state is None and not (directory / "postgres").exists():
        print(f"[services] nothing to stop: no services in {directory}", flush=True)
        return
    if state and pid_alive(state.mlflow_pid):
        _stop_server(state.mlflow_pid)
        print(f"[services] MLflow server (pid {state.mlflow_pid}) stopped", flush=True)
    cluster_dir = directory / "postgres"
    if (cluster_dir / "PG_VERSION").exists():
        cluster = Cluster(cluster_dir, state.postgres_port if state else Services.postgres_port)
        if cluster.running():
            cluster.stop()
            print("[services] PostgreSQL stopped", flush=True)
    if state:
        (directory / STATE_FILE).write_text(json.dumps(asdict(replace(state, mlflow_pid=None)), indent=2))
    print(f"[services] data kept in {directory}", flush=True)


def status(directory: Path = SERVICES_DIR) -> tuple[bool, str]:
    """(everything up, a description of each service)."""
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        return False, f"no services in {directory}: start them with `synthset services up`"
    cluster_dir = directory / "postgres"
    postgres_up = (cluster_dir / "PG_VERSION").exists() and Cluster(cluster_dir, state.postgres_port).running()
    mlflow_up = pid_alive(state.mlflow_pid) and healthy(state)
    lines = [f"PostgreSQL   {'running' if postgres_up else 'stopped'}  {state.host}:{state.postgres_port}",
             f"MLflow       {'running' if mlflow_up else 'stopped'}  {state.tracking_uri}"
             + (f"  (pid {state.mlflow_pid})" if mlflow_up else "")]
    if postgres_up and mlflow_up:
        lines += ["", state.exports()]
    return postgres_up and mlflow_up, "\n".join(lines)


def _stop_server(pid: int, grace_s: float = 5) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll its existence
            finished = 0 if pid_alive(pid) else pid
        if finished:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

"""Stage processes that start warm: forked from one interpreter that has imported everything once.

Every ``synthset`` stage process of a ``dvc repro`` used to pay for its own ``import tensorflow``,
``import mlflow`` and the library (5-8 s each, 39 processes). ``synthset repro`` starts one *warm
server* that imports all of it once, without running anything; each ``synthset <command>`` that
DVC starts then finds the server's socket (``SYNTHSET_WARM_SOCKET``), hands it its command line,
working directory, environment and standard streams, and waits. The server forks a child that
takes over those streams and runs the command with the entry function it was started with (the
CLI's ``main``, handed over by ``synthset repro``), exactly as the cold CLI would, then sends back
its exit status. The parallel stages' workers are forked from that child in turn
(``synthset.parallel``), so they start warm too.

Forking is safe here because the server never starts TensorFlow's runtime (no threads, no
devices) nor opens a database connection (``assert_unstarted``, as the operating system sees the
process); every child starts both itself, as a fresh process would. Without the variable, or when the server cannot be reached, the command
runs in its own process as before: ``dvc repro`` and ``dvc exp run`` need no server.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import signal
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SOCKET_ENV = "SYNTHSET_WARM_SOCKET"
SERVED = "served"  # the server's line for each command it forked a child for
# What a stage or its workers import before their first useful work, imported once by the server
# (besides the entry function's module, the CLI): the libraries, every stage module (``.*``: each module of the package, so a new stage is
# included) and the trainers and report the stages import lazily. MLflow's SQL store module (not an
# engine: that would be shared) costs each process half a second to import, and every stage and
# worker opens the store.
PRELOAD = ("tensorflow", "keras", "mlflow", "mlflow.store.tracking.sqlalchemy_store", "pandas", "scipy.linalg",
           "synthset.tracking.store", "synthset.tracking.runs",
           "synthset.stages.*", "synthset.training.gan", "synthset.training.classifier",
           "synthset.training.callbacks", "synthset.report.build")
_MESSAGE_LIMIT = 1 << 20
_PARENT_CHECK_SECONDS = 2.0


def assert_unstarted() -> None:
    from synthset.parallel import runtime_started

    if runtime_started():
        raise RuntimeError("the warm server started TensorFlow or MLflow while importing; its children cannot be forked")


# --- client: the `synthset` command DVC started ----------------------------------------------------

def run_in_server(argv: Sequence[str]) -> int | None:
    """Run ``synthset argv`` in a child of the warm server; its exit status, or None when no
    server is configured or reachable (the caller then runs the command itself)."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    request = json.dumps({"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    with connection, connection.makefile("rb") as replies:
        socket.send_fds(connection, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
        child = int(json.loads(replies.readline())["pid"])
        # SIGTERM (DVC's, a scheduler's) goes on to the child; the terminal's Ctrl-C reaches the
        # child directly (same process group), so it is not sent twice.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: _signal(child, signum))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            line = replies.readline()
        finally:
            signal.signal(signal.SIGTERM, previous)
    if not line:
        print(f"synthset: the stage process (pid {child}) ended without an exit status: killed?", file=sys.stderr)
        return 1
    return int(json.loads(line)["exit"])


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


# --- server ------------------------------------------------------------------------------------------

def preload(modules: Sequence[str] = PRELOAD) -> None:
    """Import ``modules`` (``package.*``: every module of the package), without starting anything."""
    for name in modules:
        package = importlib.import_module(name.removesuffix(".*"))
        if name.endswith(".*"):
            for found in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
                importlib.import_module(found.name)
    assert_unstarted()


def entry_name(entry: Callable[[list[str]], int]) -> str:
    """``module:function``: how the server process, started afresh, finds ``entry``."""
    return f"{entry.__module__}:{entry.__qualname__}"


def resolve(name: str) -> Callable[[list[str]], int]:
    """The function ``entry_name`` named (imported now)."""
    module, _, qualname = name.partition(":")
    found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def serve(path: str, entry: str, modules: Sequence[str] = PRELOAD) -> None:
    """Import the function ``entry`` (``module:function``) and ``modules`` (``preload``), then fork a
    child per request on the Unix socket ``path``, which runs ``entry(argv)``, until SIGTERM."""
    run = resolve(entry)
    preload(modules)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the children; the launcher stops us
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(_PARENT_CHECK_SECONDS)
    launcher = os.getppid()
    print("ready", flush=True)
    while os.getppid() == launcher:  # a killed launcher leaves no server behind
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(None)
        with connection:
            message, fds, _, _ = socket.recv_fds(connection, _MESSAGE_LIMIT, 3)
            size = int.from_bytes(message[:8], "big")
            while len(message) < 8 + size:
                message += connection.recv(_MESSAGE_LIMIT)
            request = json.loads(message[8:8 + size])
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _run_child(run, connection, fds, request)  # never returns
            print(SERVED, json.dumps(request["argv"]), flush=True)  # counted by the launcher (`server`)
            for fd in fds:
                os.close(fd)


def _reap(signum, frame) -> None:
    """Wait for every finished child, so that their CPU time counts as this server's children's
    (``/usr/bin/time`` of ``synthset repro`` sees it) and none is left a zombie."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _run_child(run: Callable[[list[str]], int], connection: socket.socket, fds: list[int], request: dict) -> None:
    """In the forked child: become the client's process (streams, directory, environment, argv),
    run the command with ``run`` as the cold CLI would, report the exit status, exit."""
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(SOCKET_ENV, None)  # this process is the stage; nothing below asks the server again
        sys.argv = ["synthset", *request["argv"]]
        connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        threading.Thread(target=_stop_when_caller_goes, args=(connection,), daemon=True).start()
        code = run(request["argv"])
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported to the client's stderr, like an uncaught error
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
        os._exit(code)


def _stop_when_caller_goes(connection: socket.socket) -> None:
    """The caller (DVC's stage process) was killed: stop as it would have, by SIGTERM (workers
    stopped, MLflow runs ended KILLED, checkpoints kept), instead of running on unseen."""
    with contextlib.suppress(OSError):
        connection.recv(1)  # the caller never sends more: this returns when it is gone
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Server:
    """A running warm server: the environment its clients need (this process's plus
    ``SYNTHSET_WARM_SOCKET``) and the command lines it has forked a child for, so far."""

    env: dict[str, str]
    served: list[list[str]] = field(default_factory=list)


@contextlib.contextmanager
def server(entry: Callable[[list[str]], int], modules: Sequence[str] = PRELOAD) -> Iterator[Server]:
    """A warm server that imported ``modules`` and runs each command with ``entry`` (the CLI's
    ``main``), for the duration of the block."""
    import subprocess

    directory = Path(tempfile.mkdtemp(prefix="synthset-warm-"))  # private (0700): only this user connects
    path = str(directory / "socket")
    process = subprocess.Popen([sys.executable, "-m", "synthset.warm", path, entry_name(entry), *modules],
                               stdout=subprocess.PIPE, text=True)
    running, ready = Server({**os.environ, SOCKET_ENV: path}), ""

    def count_served() -> None:
        for line in process.stdout:
            if line.startswith(f"{SERVED} "):
                running.served.append(json.loads(line.removeprefix(f"{SERVED} ")))

    try:
        ready = process.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"the warm server did not start (exit status {process.wait()}); see its output above")
        counter = threading.Thread(target=count_served, daemon=True)
        counter.start()
        yield running
    finally:
        process.terminate()
        process.wait()
        if ready == "ready":
            counter.join(10)
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            directory.rmdir()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3:])

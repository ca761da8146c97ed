"""Run short workflow jobs in a pre-warmed process instead of a fresh interpreter.

Most of a fine-tuning job's wall time used to be start-up: a new Python process
importing torch, scikit-learn and pandas (about 2.5 s) to train a head for a fraction
of a second. Jobs that opt in call :func:`run_job` from their script. It sends the
call (a ``module:function`` and JSON arguments) over a Unix socket to a *job server*:
a process of the same interpreter, started on first use, that imports a job's module
the first time a job asks for it (so later jobs of that kind find torch, pandas and
scikit-learn loaded) and forks one child per job. The child runs the call with the
job's log file, thread count, working directory, environment and standard streams,
and its exit status becomes the script's. Nothing else is shared: every job still
runs in its own process, from the same code, with its own seeds, so its results are
the same as in a fresh interpreter (tested).

Where no server can be used the call simply runs in the script's own process:

- ``ECGSSL_JOB_SERVER=0`` in the environment;
- under a cluster scheduler (``SLURM_JOB_ID`` set: jobs land on other machines);
- platforms without ``fork`` or ``AF_UNIX`` sockets;
- while the server is still starting (the first jobs of a run start it and do not
  wait for it), or when it cannot be reached.

A server belongs to one user (its socket sits in a ``0700`` folder under the
temporary directory), one interpreter and one version of the package's source: an
edit of any library file starts a new server for the next job, and the old one exits
after :data:`IDLE_SECONDS` without work. It forks only from its single thread and
never runs computations itself, so the children start from a clean state.

This module imports only the standard library: a job's script pays for nothing but
the interpreter start and this module before handing its work over.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ENV", "IDLE_SECONDS", "run_job", "server_enabled"]

#: Environment variable: ``0`` runs every job in its own process.
ENV = "ECGSSL_JOB_SERVER"
#: A server exits after this many seconds without a job.
IDLE_SECONDS = 60.0
_PROTOCOL = 1
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def server_enabled() -> bool:
    """Whether jobs may use a job server here (see the module docstring)."""
    return (
        os.environ.get(ENV, "1") != "0"
        and "SLURM_JOB_ID" not in os.environ
        and hasattr(os, "fork")
        and hasattr(socket, "AF_UNIX")
        and hasattr(socket, "send_fds")
        and hasattr(os, "pidfd_open")
    )


def _source_stamp() -> str:
    """Size and mtime of every source file of the package: changes on any edit."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            st = path.stat()
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _socket_path() -> Path:
    # Not sys.path: its first entry is the folder of the job's own (temporary) script.
    identity = json.dumps(
        [_PROTOCOL, sys.executable, str(Path(__file__).resolve()), _source_stamp()]
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"ecgssl-jobs-{os.getuid()}" / f"{key}.sock"


def _private_dir(folder: Path) -> bool:
    """Create ``folder`` as 0700, or check that an existing one is ours and 0700."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    st = folder.lstat()
    return (
        st.st_uid == os.getuid()
        and (st.st_mode & 0o777) == 0o700
        and not folder.is_symlink()
    )


def _call(target: str, kwargs: dict[str, Any], paths: Iterable[str]) -> None:
    module, _, function = target.partition(":")
    arguments = dict(kwargs)
    for name in paths:
        value = arguments.get(name)
        if isinstance(value, list):
            arguments[name] = [Path(v) for v in value]
        elif value is not None:
            arguments[name] = Path(value)
    getattr(importlib.import_module(module), function)(**arguments)


def _prepare(log: str, threads: int) -> None:
    """The job's logging and thread count (torch's too, where torch is loaded)."""
    from ecgssl.util.runlog import setup_logging

    setup_logging(log)
    # read when torch (or BLAS) starts, if the job imports it
    os.environ.update(dict.fromkeys(_THREAD_VARS, str(threads)))
    # A server child whose job module loaded torch: its intra-op pool exists already
    # (the inter-op pool serves no job here). Looked up, not imported: a job that
    # never needs torch must not load it.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def run_job(
    target: str,
    kwargs: dict[str, Any],
    *,
    log: str,
    threads: int = 1,
    paths: Sequence[str] = (),
) -> None:
    """Run ``target(**kwargs)`` for a workflow job, in a job server where possible.

    Parameters
    ----------
    target : str
        ``"package.module:function"``.
    kwargs : dict
        Keyword arguments, JSON-serialisable (paths as strings).
    log : str
        The job's log file (the call's logging and any uncaught error go there).
    threads : int
        The job's thread count (:func:`ecgssl.learning.device.set_threads`).
    paths : sequence of str
        Names of arguments to turn into :class:`pathlib.Path` (lists element-wise).

    Raises
    ------
    SystemExit
        With the child's exit status when the call failed in a job server (the
        traceback is in the job's log and on its standard error).
    """
    request = {
        "protocol": _PROTOCOL, "target": target, "kwargs": kwargs,
        "paths": list(paths), "log": log, "threads": threads, "cwd": os.getcwd(),
        "env": dict(os.environ),
    }  # fmt: skip
    status = _submit(request) if server_enabled() else None
    if status is None:  # no server: run here
        _prepare(log, threads)
        _call(target, kwargs, paths)
    elif status != 0:
        raise SystemExit(status)


def _submit(request: dict[str, Any]) -> int | None:
    """Exit status of the job run by a server; None where none could take it."""
    path = _socket_path()
    if not _private_dir(path.parent):
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        _start_server(path)
        return None
    with client:
        payload = json.dumps(request).encode()
        socket.send_fds(client, [len(payload).to_bytes(8, "big")], [0, 1, 2])
        client.sendall(payload)
        reader = client.makefile("r")
        first = reader.readline()
        if not first:
            return None  # the server went away before forking: run here
        pid = json.loads(first)["pid"]

        def forward(signum: int, _frame: Any) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        last = reader.readline()
        if not last:
            print(f"ecgssl job server: lost job {pid}", file=sys.stderr)
            return 1
        return int(json.loads(last)["exit"])


def _start_server(path: Path) -> None:
    """Start a server for ``path`` in the background unless one is starting."""
    lock = path.with_suffix(".starting")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if time.time() - lock.stat().st_mtime < 120:
            return  # another job is starting it
        lock.unlink(missing_ok=True)  # left by a server that died while starting
        return
    os.close(fd)
    env = dict(os.environ) | dict.fromkeys(_THREAD_VARS, "1")
    with open(path.with_suffix(".log"), "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "ecgssl.util.jobserver", str(path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
            start_new_session=True, close_fds=True,
        )  # fmt: skip


# ---- the server --------------------------------------------------------------------
def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the job, run it, exit with its status."""
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    status = 0
    try:
        _prepare(request["log"], request["threads"])
        _call(request["target"], request["kwargs"], request["paths"])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:  # noqa: BLE001 - reported, then the job fails
        sys.excepthook(*sys.exc_info())
        status = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, 8, 3)
    size = int.from_bytes(header, "big")
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("request cut short")
        data += chunk
    return json.loads(data), list(fds)


def serve(path: Path, *, idle: float = IDLE_SECONDS) -> None:
    """Serve jobs on ``path`` until :data:`IDLE_SECONDS` pass without one.

    Single-threaded: one ``select`` loop over the listening socket, the clients of
    running jobs (whose end means "kill the job") and the jobs' pidfds (whose
    readiness means "the job ended").
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, path)  # a complete, listening socket or none
    ours = os.stat(path).st_ino
    path.with_suffix(".starting").unlink(missing_ok=True)
    jobs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, client)
    orphans: set[socket.socket] = set()  # clients gone; their jobs are being killed
    last = time.monotonic()
    try:
        while jobs or time.monotonic() - last < idle:
            clients = [c for _, c in jobs.values() if c not in orphans]
            ready, _, _ = select.select([listener, *clients, *jobs], [], [], 1.0)
            for item in ready:
                if item is listener:
                    _accept(listener, jobs)
                elif isinstance(item, int):  # a job ended
                    pid, client = jobs.pop(item)
                    _, wait_status = os.waitpid(pid, 0)
                    os.close(item)
                    orphans.discard(client)
                    with contextlib.suppress(OSError), client:
                        code = os.waitstatus_to_exitcode(wait_status)
                        client.sendall(json.dumps({"exit": code}).encode() + b"\n")
                elif item.recv(1) == b"":  # a client went away: so must its job
                    orphans.add(item)
                    pid = next(pid for pid, c in jobs.values() if c is item)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
            if jobs or ready:
                last = time.monotonic()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == ours:  # not a newer server's socket
                path.unlink()
        listener.close()


def _warm(target: str) -> None:
    """Import a job's module in the server, once, so that its later jobs start warm.

    Only what the jobs ask for is imported: a server runs in one rule's environment,
    which need not have the packages of another rule's modules. A module that fails
    to import is left to the job's child, which reports the error in the job's log.
    """
    module = target.partition(":")[0]
    if module.startswith("ecgssl.") and module not in sys.modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)


def _accept(
    listener: socket.socket, jobs: dict[int, tuple[int, socket.socket]]
) -> None:
    client, _ = listener.accept()
    try:
        request, fds = _receive(client)
        if request.get("protocol") != _PROTOCOL or len(fds) != 3:
            raise ValueError("unknown request")
    except (OSError, ValueError, ConnectionError):
        client.close()
        return
    _warm(str(request.get("target", "")))
    pid = os.fork()
    if pid == 0:
        listener.close()
        for _, other in jobs.values():
            other.close()
        client.close()
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    client.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    jobs[os.pidfd_open(pid)] = (pid, client)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))

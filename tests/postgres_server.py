"""A real PostgreSQL server for the sweep tests and the storage benchmark: Debian's
`postgresql` package, started in a temporary data directory on a free local port and
stopped afterwards. `start_postgres` says why when it cannot start one."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def find_bin_dir() -> Path:
    """The directory of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise PostgresUnavailable("no initdb on PATH or in /usr/lib/postgresql/*/bin: install Debian's postgresql "
                                  "package (apt-get install postgresql)")
    return Path(candidates[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_server_user(command: list[str], user: Optional[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package made."""
    return ["runuser", "-u", user, "--", *command] if user else command


@contextmanager
def start_postgres(database: str = "sweeps") -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh server with an empty `database`; stop it and delete
    its data on exit. The data lives in a new directory of the system's temporary one (not
    pytest's, which the server's user may not enter)."""
    bin_dir = find_bin_dir()
    user = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="postgres-"))
    data, sockets = directory / "data", directory / "sockets"
    sockets.mkdir()
    if user:
        try:
            shutil.chown(directory, user)
            shutil.chown(sockets, user)
        except LookupError:
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from None
    port = free_port()

    def run(*command: str) -> None:
        done = subprocess.run(as_server_user(list(command), user), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command[:2])} failed ({done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-800:]}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database) \
            if (bin_dir / "createdb").exists() else \
            run("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", f"CREATE DATABASE {database}")
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user),
                       capture_output=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)

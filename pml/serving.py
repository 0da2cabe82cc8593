"""`pml serve --workers N`: uvicorn's supervisor, but every worker listens on a socket of its own.

uvicorn binds one socket in the supervisor and shares it with the workers, which then race to accept each
connection. Clients that keep their connections open (locust, a load balancer's upstream pool, every
prescriber system with a keep-alive client) stay with whichever worker won: measured here, 32 connections
opened together split 22 to 10 between two workers, run after run, so one worker did two thirds of the work
while the other idled. With SO_REUSEPORT each worker binds the same port itself and the kernel hands every
new connection to one of the listening sockets by a hash of its addresses: an even split on average, whatever
the workers happen to be doing when the connection arrives.

Everything else is uvicorn's `Multiprocess` as `uvicorn.run` uses it (restarting a worker that dies,
signals, health pings). It builds its workers from its module's `Process` class; for the run of the
supervisor that name is bound to the subclass below, whose only change is the socket. uvicorn is pinned in
constraints.txt, and `tests/api/test_serving.py` checks the split and a worker's restart.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from uvicorn import Config
from uvicorn.supervisors import multiprocess


def _reuse_port_bound(host: str, port: int) -> socket.socket:
    """A TCP socket bound to the address, which other processes of this user may bind as well."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket of this process's own on an address other workers listen on too."""
    sock = _reuse_port_bound(host, port)
    sock.listen(backlog)
    return sock


class _OwnSocketWorker(multiprocess.Process):
    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker process
        config = self.config
        super().target([reuse_port_socket(config.host, config.port, config.backlog)])


@contextmanager
def _workers_with_own_sockets() -> Iterator[None]:
    shared = multiprocess.Process
    multiprocess.Process = _OwnSocketWorker  # type: ignore[misc]
    try:
        yield
    finally:
        multiprocess.Process = shared  # type: ignore[misc]


def run_workers(config: Config) -> None:
    """Serve `config` with `config.workers` processes, each on its own SO_REUSEPORT socket. The supervisor
    binds the address too, without listening (so it gets no connections): a port another program holds fails
    here, once, instead of in every worker it would restart, and the port stays ours between restarts."""
    with _reuse_port_bound(config.host, config.port), _workers_with_own_sockets():
        multiprocess.Multiprocess(config, sockets=[]).run()

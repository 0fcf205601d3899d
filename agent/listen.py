"""Can the proxy listen where it is told to? Asked before anything starts, so a busy port is
one clear error and exit (status 7), never a proxy that restarts forever."""

from __future__ import annotations

import errno
import socket

from agent.errors import ListenError


def ensure_can_listen(host: str, port: int) -> None:
    """Bind (and release) `host:port` as the proxy would, or raise `ListenError` saying why.

    Port 0 (any free port) always works. SO_REUSEADDR is set as asyncio's servers set it, so a
    port left in TIME_WAIT by a previous run is not mistaken for a busy one.
    """
    if port == 0:
        return
    name = "localhost" if host == "localhost" else host
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ListenError(
                    f"cannot listen on {host}:{port}: the address is already in use by another program",
                    hint="stop it (`ss -ltnp 'sport = :" + str(port) + "'` names it) or choose another with --listen",
                ) from None
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

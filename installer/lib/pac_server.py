"""Serve the PAC file on loopback, independently of the agent.

The PAC must stay reachable when the agent is down (that is when it matters: it then makes
browsers fail closed on AI hosts), so it is served by this small process under systemd
socket activation (`phiwall-pac.socket` owns the port; the socket accepts connections even
before this process starts). It serves one file, read on every request, and nothing else.

Usage: pac_server.py PAC_FILE [--listen HOST:PORT]   (without --listen: the socket systemd passes)
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import click

SD_LISTEN_FDS_START = 3
PAC_PATHS = ("/proxy.pac", "/wpad.dat")
PAC_TYPE = "application/x-ns-proxy-autoconfig"


def systemd_socket() -> socket.socket | None:
    """The first socket passed by systemd (sd_listen_fds protocol), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def make_handler(pac_file: Path) -> type[BaseHTTPRequestHandler]:
    class PacHandler(BaseHTTPRequestHandler):
        server_version = "phiwall-pac"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in PAC_PATHS:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            try:
                body = pac_file.read_bytes()
            except OSError:
                self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "PAC file missing")
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", PAC_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # nothing worth keeping: one static file

    return PacHandler


@click.command(help=(__doc__ or "").splitlines()[0])
@click.argument("pac_file", type=click.Path(path_type=Path))
@click.option("--listen", default=None, help="HOST:PORT when not socket-activated")
def main(pac_file: Path, listen: str | None) -> None:
    handler = make_handler(pac_file)
    inherited = systemd_socket()
    if inherited is not None:
        server = HTTPServer(inherited.getsockname()[:2], handler, bind_and_activate=False)
        server.socket.close()
        server.socket = inherited
    elif listen:
        host, _, port = listen.rpartition(":")
        server = HTTPServer((host, int(port)), handler)
    else:
        raise click.UsageError("no socket from systemd and no --listen")
    print(f"serving {pac_file} on {server.socket.getsockname()}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()

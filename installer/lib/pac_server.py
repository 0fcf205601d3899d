"""Serve the PAC file on loopback, independently of the agent.

The PAC must stay reachable when the agent is down (that is when it matters: it then makes
browsers fail closed on AI hosts), so it is served by this small process under systemd
socket activation (`phiwall-pac.socket` owns the port; the socket accepts connections even
before this process starts). It serves one file, read on every request, and nothing else.

Usage: pac_server.py PAC_FILE [--listen HOST:PORT]   (without --listen: the socket systemd passes)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pac_file", type=Path)
    parser.add_argument("--listen", default=None, help="HOST:PORT when not socket-activated")
    args = parser.parse_args()
    handler = make_handler(args.pac_file)
    inherited = systemd_socket()
    if inherited is not None:
        server = HTTPServer(inherited.getsockname()[:2], handler, bind_and_activate=False)
        server.socket.close()
        server.socket = inherited
    elif args.listen:
        host, _, port = args.listen.rpartition(":")
        server = HTTPServer((host, int(port)), handler)
    else:
        raise SystemExit("pac_server: no socket from systemd and no --listen")
    print(f"serving {args.pac_file} on {server.socket.getsockname()}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

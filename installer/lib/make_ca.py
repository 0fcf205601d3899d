"""Create the proxy CA of this workstation with mitmproxy's own CA generation.

Run by install.sh with the installed environment's Python. The CA is made on the machine it
protects and its key never leaves it: `mitmproxy-ca.pem` (key + certificate) and
`mitmproxy-ca.p12` are written 0600 under a 0700 directory; an existing CA is kept, so
re-running the installer never invalidates certificates browsers already trust.

Usage: make_ca.py CA_DIR [--cn NAME]    prints the path of the public certificate (PEM)
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import click
from mitmproxy.certs import CertStore

BASENAME = "mitmproxy"  # the file names mitmproxy's confdir expects
KEY_FILES = (f"{BASENAME}-ca.pem", f"{BASENAME}-ca.p12")


def ensure_ca(ca_dir: Path, common_name: str) -> Path:
    ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(ca_dir, 0o700)
    if not (ca_dir / KEY_FILES[0]).exists():
        CertStore.create_store(ca_dir, BASENAME, 2048, organization="PhiWall", cn=common_name)
    for name in KEY_FILES:
        key_file = ca_dir / name
        if key_file.exists():
            os.chmod(key_file, 0o600)
            mode = stat.S_IMODE(key_file.stat().st_mode)
            if mode != 0o600:
                raise SystemExit(f"make_ca: {key_file} has mode {mode:o}, expected 600")
    return ca_dir / f"{BASENAME}-ca-cert.pem"


@click.command(help=(__doc__ or "").splitlines()[0])
@click.argument("ca_dir", type=click.Path(path_type=Path))
@click.option("--cn", default=f"PhiWall proxy CA ({socket.gethostname()[:40]})", help="the CA's common name")
def main(ca_dir: Path, cn: str) -> None:
    click.echo(ensure_ca(ca_dir, cn))


if __name__ == "__main__":
    main()

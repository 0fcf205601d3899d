"""The proxy's certificate authority: made once per workstation, key readable by its owner only.

mitmproxy looks for `mitmproxy-ca.pem` (key + certificate) in its confdir and would create a
generic "mitmproxy" CA there. Creating it ourselves first names it after PhiWall (what users
see in certificate details) and lets us verify the key's mode on every start: a key others
can read would let them intercept this user's TLS, so a wrong mode is repaired and logged.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from mitmproxy.certs import CertStore

from agent.paths import ensure_writable_dir

log = logging.getLogger(__name__)

BASENAME = "mitmproxy"
KEY_FILE = f"{BASENAME}-ca.pem"
CERT_FILE = f"{BASENAME}-ca-cert.pem"
KEY_SIZE = 2048
ORGANIZATION = "PhiWall"
COMMON_NAME = "PhiWall local inspection CA"


def ensure_ca(directory: Path) -> Path:
    """Create the CA in `directory` if missing; make sure its key is 0600. Returns the cert path."""
    ensure_writable_dir(directory, "proxy CA dir")
    os.chmod(directory, 0o700)
    key_file = directory / KEY_FILE
    if not key_file.exists():
        CertStore.create_store(directory, BASENAME, KEY_SIZE, organization=ORGANIZATION, cn=COMMON_NAME)
        log.info("created proxy CA in %s", directory)
    for secret in (key_file, directory / f"{BASENAME}-ca.p12"):
        if secret.exists():
            mode = stat.S_IMODE(secret.stat().st_mode)
            if mode & 0o077:
                log.warning("%s had mode %o: restricting to 600", secret, mode)
                os.chmod(secret, 0o600)
    return directory / CERT_FILE

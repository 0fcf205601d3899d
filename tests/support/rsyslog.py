"""A real rsyslogd on loopback for SIEM tests: TCP or TLS (gtls) input, messages to a file.

It runs in the foreground as the test user with its own config, work dir and pid file in
the test's tmp dir (`rsyslogd -n -f CONF -i PIDFILE`); nothing of the system's syslog is
read or touched. The main queue is Direct and the file action writes synchronously, so
what rsyslog has read from a connection is in the file before it reads further: that
makes "nothing lost across a kill -9" a property of the sender, which is what is tested.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path, ca: trustme.CA | None = None) -> tuple[trustme.CA, TlsFiles]:
    """A CA and a server certificate for 127.0.0.1 / localhost, as PEM files."""
    ca = ca or trustme.CA()
    directory.mkdir(parents=True, exist_ok=True)
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    server.private_key_pem.write_to_path(str(files.key))
    return ca, files


class Rsyslog:
    def __init__(self, root: Path, *, tls: TlsFiles | None = None, client_auth: bool = False) -> None:
        if RSYSLOGD is None:
            pytest.skip("rsyslogd is not installed (Debian packages rsyslog, rsyslog-gnutls; scripts/setup.sh --dev)")
        self.root = root
        self.port = free_port()
        self.output = root / "received.log"
        self.parsed = root / "parsed.log"
        self.pidfile = root / "rsyslogd.pid"
        self.conf = root / "rsyslog.conf"
        self.process: subprocess.Popen[bytes] | None = None
        (root / "work").mkdir(parents=True, exist_ok=True)
        lines = [f'global(workDirectory="{root / "work"}"']
        if tls is not None:
            lines[0] += (
                f' DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{tls.ca}"'
                f' DefaultNetstreamDriverCertFile="{tls.cert}" DefaultNetstreamDriverKeyFile="{tls.key}"'
            )
        lines[0] += ")"
        lines.append('main_queue(queue.type="Direct")')
        if tls is not None:
            auth = "x509/certvalid" if client_auth else "anon"
            lines.append(
                f'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="{auth}")'
            )
        else:
            lines.append('module(load="imtcp")')
        lines += [
            f'input(type="imtcp" port="{self.port}" address="127.0.0.1")',
            'template(name="whole" type="string" string="%rawmsg%\\n")',
            f'action(type="omfile" file="{self.output}" template="whole" asyncWriting="off" flushOnTXEnd="on")',
            # What rsyslog's RFC 5424 parser made of each message: proof the header is well formed.
            'template(name="fields" type="string" string='
            '"%protocol-version%|%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%\\n")',
            f'action(type="omfile" file="{self.parsed}" template="fields" asyncWriting="off" flushOnTXEnd="on")',
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        assert RSYSLOGD is not None
        self.pidfile.unlink(missing_ok=True)
        log = (self.root / "rsyslogd.out").open("ab")
        self.process = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {(self.root / 'rsyslogd.out').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rsyslogd did not start listening")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing; whatever it had not read is lost to it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def parsed_fields(self) -> list[list[str]]:
        """Per message: protocol version, facility, severity, hostname, app-name, procid, msgid, SD."""
        if not self.parsed.exists():
            return []
        return [line.split("|", 7) for line in self.parsed.read_text(encoding="utf-8").splitlines() if line]

    def messages(self) -> list[str]:
        if not self.output.exists():
            return []
        return [line for line in self.output.read_text(encoding="utf-8").splitlines() if line]

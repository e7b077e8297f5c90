"""A private sshd on 127.0.0.1 for tests: its own host key, config and authorized key, root login
by key only. It never touches the system's sshd or its config."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port

SSHD = "/usr/sbin/sshd"  # sshd refuses to start unless run by its absolute path


class Sshd:
    def __init__(self, root: Path):
        if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
            pytest.skip("openssh-server (sshd, ssh-keygen) is not installed")
        self.dir = root / "sshd"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.host_key = self.dir / "host_key"
        self.client_key = self.dir / "client_key"
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation dir
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir}/sshd.pid", f"AuthorizedKeysFile {self.dir}/authorized_keys",
            "AuthenticationMethods publickey", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "AllowUsers root", "UsePAM no", "StrictModes no", "DisableForwarding yes",
            "PermitTunnel no", "PermitUserRC no", ""]))
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        self.log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("sshd did not start: " + (self.dir / "log").read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

# SPDX-License-Identifier: MIT
"""Lifecycles the fixtures share.

LocalServer: a threaded HTTP server on 127.0.0.1:<free port> for the fake peers of the test suite
(token server, blob server, fake Harbor); subclasses name their handler:

    class MyFake(LocalServer):
        handler = _MyHandler             # its requests reach self.server.owner

    with MyFake() as fake: ... fake.port ...

LocalProcess: a real peer run as a child process (docker-registry, containerd) with its output
in log_path; subclasses start it with _spawn(argv) and wait for it in their start().

(PYTEST_DONT_REWRITE: a helper module, imported by fixture modules.)
"""
import signal
import subprocess
import threading
from http.server import ThreadingHTTPServer

__all__ = ["LocalServer", "LocalProcess", "die_with_parent"]


def die_with_parent():
    """In the child: get SIGTERM when the test process dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except (OSError, AttributeError):
        pass


class LocalProcess:
    """Attributes: log_path (set by the subclass), proc (None while stopped)."""
    log_path = None
    proc = None
    _log = None
    stop_timeout = 10  # seconds after the signal before SIGKILL

    def _spawn(self, argv):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def stop(self, sig=signal.SIGTERM):
        """Send sig (SIGKILL after stop_timeout) and wait; idempotent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LocalServer:
    handler = None  # a BaseHTTPRequestHandler subclass
    server_class = ThreadingHTTPServer
    _server = _thread = None
    port = None

    def start(self):
        self._server = self.server_class(("127.0.0.1", 0), self.handler)
        self._server.daemon_threads = True
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

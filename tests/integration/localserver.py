# SPDX-License-Identifier: MIT
"""A threaded HTTP server on 127.0.0.1:<free port> for the fake peers of the test suite (token
server, blob server, fake Harbor): subclasses name their handler and say what else to set up.

    class MyFake(LocalServer):
        handler = _MyHandler             # its requests reach self.server.owner

    with MyFake() as fake: ... fake.port ...

(PYTEST_DONT_REWRITE: a helper module, imported by fixture modules.)
"""
import threading
from http.server import ThreadingHTTPServer

__all__ = ["LocalServer"]


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

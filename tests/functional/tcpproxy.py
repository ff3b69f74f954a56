"""A TCP proxy to put in front of a service, so that a test can make the
service go away (kill the proxy) without touching the service itself.

Run as a process: ``python tcpproxy.py UPSTREAM_HOST UPSTREAM_PORT
[LISTEN_PORT]`` prints the port it listens on (127.0.0.1), then copies bytes
both ways for every connection, one thread per direction. Killing it
(SIGKILL) closes every connection at once, as a crashed proxy or a lost
network path would; started again on the same port, it lets the service
come back. :class:`Proxy` does that from a test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(upstream: tuple[str, int], port: int = 0) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(upstream, timeout=5)
        except OSError:
            client.close()
            continue
        server.settimeout(None)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


class Proxy:
    """A proxy process in front of ``host:port``; ``kill()`` makes the
    service unreachable through it, ``start()`` brings it back (same port)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> Proxy:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.upstream[0], str(self.upstream[1])]
            + ([str(self.port)] if self.port else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        return self

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            assert self._proc.stdout is not None
            self._proc.stdout.close()
        self._proc = None


if __name__ == "__main__":
    serve((sys.argv[1], int(sys.argv[2])), int(sys.argv[3]) if len(sys.argv) > 3 else 0)

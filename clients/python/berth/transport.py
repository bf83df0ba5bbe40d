"""Transports: how bytes reach berthd. The client speaks msgpack-RPC over any of them.

Today berthd serves a unix socket only (``unix:///run/berth/berthd.sock``). ``tcp://`` is where
mutual TLS will go (issue 12); until berthd serves it this module refuses it with
:class:`berth.errors.Unsupported` instead of sending anything in the clear. A new transport is a
class with ``recv``, ``sendall``, ``shutdown`` and ``close`` and a case in :func:`connect`.
"""

from __future__ import annotations

import os
import socket

from . import errors

DEFAULT_HOST = "unix:///run/berth/berthd.sock"


class Transport:
    """A connected byte stream."""

    def recv(self, size: int) -> bytes:  # b"" when the peer closed
        raise NotImplementedError

    def sendall(self, data: bytes) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Ends both directions, waking a thread blocked in recv."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SocketTransport(Transport):
    """A stream socket: a unix socket today, a socketpair in tests."""

    def __init__(self, sock: socket.socket, where: str):
        self.sock = sock
        self.where = where

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def unix_path(host: str) -> str | None:
    """The socket path of ``unix:///path`` or of a plain absolute path; None for other schemes."""
    if host.startswith("unix://"):
        return host[len("unix://"):]
    if host.startswith("/"):
        return host
    return None


def connect(host: str | None = None, timeout: float | None = 10.0) -> Transport:
    """Connects to ``host`` (default: ``BERTH_HOST``, else the default socket)."""
    host = host or os.environ.get("BERTH_HOST") or DEFAULT_HOST
    path = unix_path(host)
    if path is not None:
        if not path.startswith("/"):
            raise errors.InvalidArgument(f"{host}: a unix socket path must be absolute")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise errors.Unavailable(f"cannot connect to berthd at {path}: {e.strerror or e}") \
                from e
        sock.settimeout(None)
        return SocketTransport(sock, host)
    if host.startswith("tcp://"):
        raise errors.Unsupported(
            f"{host}: berthd does not serve TCP yet; remote access will be TLS only "
            "(mutual TLS, issue 12), and this client will not send the protocol in the clear")
    raise errors.InvalidArgument(f"{host}: berth hosts are unix:///path (tcp:// comes with TLS)")

"""Typed errors: one exception class per error code of docs/protocol.md ("Error codes").

berthd answers a failed call with ``{"code": uint, "message": str}``; :func:`from_wire` turns
that into the class of its code, so callers catch ``berth.errors.NotFound`` rather than compare
numbers. A code this client does not know is read as :class:`Internal`, as the document says.
Errors the client itself finds (a lost connection, a broken message, a call that took too long)
are the same classes: :class:`Unavailable`, :class:`ProtocolError`, :class:`Timeout`.
"""

from __future__ import annotations


class BerthError(Exception):
    """A call failed. ``code`` is the protocol's number, ``message`` the text for people."""

    code = 0
    name = "error"

    def __init__(self, message: str = "", code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


def _make(code: int, name: str, doc: str) -> type:
    cls_name = "".join(part.capitalize() for part in name.split("_"))
    if cls_name == "Protocol":
        cls_name = "ProtocolError"
    return type(cls_name, (BerthError,), {"code": code, "name": name, "__doc__": doc})


# The table of docs/protocol.md, in its order; the numbers never change meaning.
InvalidArgument = _make(1, "invalid_argument", "A value is malformed or out of range.")
NotFound = _make(2, "not_found", "No such container, image, network, volume or stream.")
AlreadyExists = _make(3, "already_exists", "The name is taken.")
Conflict = _make(4, "conflict", "The object's state forbids it.")
Unavailable = _make(5, "unavailable", "A peer did not answer, or the connection is lost.")
Internal = _make(6, "internal", "A bug (also: a code this client does not know).")
ProtocolError = _make(7, "protocol", "A peer broke the protocol.")
NoSuchMethod = _make(8, "no_such_method", "Unknown method.")
Cancelled = _make(9, "cancelled", "Stopped before it finished.")
Unsupported = _make(10, "unsupported", "Valid, but not on this host, build or client.")
ExecNotFound = _make(11, "exec_not_found", "The container's command does not exist.")
ExecDenied = _make(12, "exec_denied", "The container's command cannot be executed.")
Timeout = _make(13, "timeout", "Did not finish in time (at berthd, or no answer in time).")
Io = _make(14, "io", "A read or write on the host failed.")
Unauthorized = _make(15, "unauthorized", "A registry wants credentials or refused them.")
Untrusted = _make(16, "untrusted", "A registry's TLS certificate is not trusted.")
NoSuchPlatform = _make(17, "no_such_platform", "The image exists, not for that platform.")

BY_CODE: dict[int, type] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, AlreadyExists, Conflict, Unavailable, Internal,
                ProtocolError, NoSuchMethod, Cancelled, Unsupported, ExecNotFound, ExecDenied,
                Timeout, Io, Unauthorized, Untrusted, NoSuchPlatform)
}


def from_wire(error: object) -> BerthError:
    """The exception for a response's ``error`` object (a map with ``code`` and ``message``)."""
    if not isinstance(error, dict):
        return ProtocolError(f"malformed error object from berthd: {error!r:.200}")
    code = error.get("code")
    message = error.get("message")
    if not isinstance(message, str):
        message = ""
    if isinstance(code, int) and not isinstance(code, bool) and code in BY_CODE:
        return BY_CODE[code](message)
    # Unknown (newer) codes are internal; the number stays readable.
    return Internal(message, code=code if isinstance(code, int) else Internal.code)


__all__ = ["BerthError", "BY_CODE", "from_wire"] + [cls.__name__ for cls in BY_CODE.values()]

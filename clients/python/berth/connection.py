"""One msgpack-RPC connection to berthd (docs/protocol.md "Framing" and "Streams").

Requests are written under a lock by any thread; one reader thread decodes everything berthd
sends and hands each response to the call waiting for its id and each notification to its
stream. What berthd sends is decoded as untrusted: one message may not exceed 8 MiB (the
Unpacker's buffer holds at most that, so a message is refused while it arrives), strings and
binaries 4 MiB, arrays and maps 65536 entries; a message of the wrong shape, or over a limit,
ends the connection with :class:`berth.errors.ProtocolError` for every call and stream on it.
The 8 MiB are counted over the whole message while it arrives, however it is split into
elements, as berthd counts what clients send.

Ids start at 1 and skip 0: a response with id 0 is berthd's reason for ending the connection.
Stream ids are per connection, so a stream is known only to the Connection that opened it.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterator, NamedTuple

import msgpack

from . import errors
from .transport import Transport

MAX_MESSAGE = 8 << 20
MAX_BLOB = 4 << 20
MAX_ELEMENTS = 1 << 16
MAX_CHUNK = 1 << 20  # stream.stdin data per request
_READ_SIZE = 64 << 10
_STREAM_QUEUE = 256  # messages a stream holds before the reader waits for its consumer


class Output(NamedTuple):
    """One ``stream.data`` notification."""

    fd: int  # 1 stdout, 2 stderr
    time: int  # unix ns
    data: bytes


class _Call:
    __slots__ = ("done", "result", "error", "opens_stream", "stream", "on_done")

    def __init__(self, opens_stream: bool, on_done: Callable[["_Call"], None] | None):
        self.done = threading.Event()
        self.result: Any = None
        self.error: errors.BerthError | None = None
        self.opens_stream = opens_stream
        self.stream: Stream | None = None
        self.on_done = on_done


class Stream:
    """The notifications of one stream, as an iterator of :class:`Output`.

    Iteration ends with the stream's ``stream.end``; its argument is then in :attr:`end`
    (``has_exit_code``, ``exit_code``, ``error``), and :attr:`exit_code` / :attr:`error` read it.
    A stream not read holds back the connection's reader once it holds 256 messages (berthd
    then paces or ends the stream, docs/protocol.md "Flow control"); :meth:`close` a stream you
    stop reading, so its output is dropped instead.
    """

    def __init__(self, conn: "Connection", stream_id: int, result: dict):
        self.conn = conn
        self.id = stream_id
        self.result = result  # the response that opened it ({"stream_id"}, exec's exec_id too)
        self.end: dict | None = None
        self.timeout: float | None = None
        self._queue: queue.Queue = queue.Queue(_STREAM_QUEUE)
        self._discard = False

    # --- iteration -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Output]:
        return self

    def __next__(self) -> Output:
        if self.end is not None:
            raise StopIteration
        try:
            item = self._queue.get(timeout=self.timeout)
        except queue.Empty:
            raise errors.Timeout(f"stream {self.id}: nothing arrived in {self.timeout} s") \
                from None
        if isinstance(item, Output):
            return item
        if isinstance(item, errors.BerthError):
            self.end = {"has_exit_code": False, "exit_code": 0, "error": str(item)}
            raise item
        self.end = item
        raise StopIteration

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_all(self) -> tuple[bytes, bytes]:
        """Reads the stream to its end; (stdout, stderr)."""
        out = [bytearray(), bytearray()]
        for chunk in self:
            out[0 if chunk.fd == 1 else 1] += chunk.data
        return bytes(out[0]), bytes(out[1])

    @property
    def exit_code(self) -> int | None:
        """The exit code ``stream.end`` carried, or None (not ended, or none carried)."""
        if self.end and self.end.get("has_exit_code"):
            return self.end.get("exit_code")
        return None

    @property
    def error(self) -> str:
        """The error ``stream.end`` carried ("" for none)."""
        return (self.end or {}).get("error") or ""

    # --- the client's side -----------------------------------------------------------------
    def write(self, data: bytes, timeout: float | None = 60.0) -> None:
        """Sends stdin, one chunk of at most 1 MiB at a time, each after the last was written
        in the guest (the protocol's flow control). Needs a stream opened with stdin."""
        view = memoryview(data)
        for off in range(0, len(view), MAX_CHUNK):
            self.conn.call("stream.stdin",
                           {"stream_id": self.id, "data": bytes(view[off:off + MAX_CHUNK])},
                           timeout=timeout)

    def close_stdin(self) -> None:
        self.conn.call("stream.close_stdin", {"stream_id": self.id})

    def resize(self, rows: int, cols: int) -> None:
        self.conn.call("stream.resize", {"stream_id": self.id, "rows": rows, "cols": cols})

    def close(self) -> None:
        """Stops reading: what still arrives for this stream is dropped."""
        self.conn._forget_stream(self)

    # --- the reader's side -----------------------------------------------------------------
    def _put(self, item: object) -> None:
        while not self._discard:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.conn._closing:
                    return


class Connection:
    """A msgpack-RPC connection: thread-safe calls by msgid, streams, one reader thread."""

    def __init__(self, transport: Transport, timeout: float | None = 60.0,
                 max_message: int = MAX_MESSAGE):
        self.transport = transport
        self.timeout = timeout
        self.max_message = max_message
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._next_id = 1
        self._calls: dict[int, _Call] = {}
        self._streams: dict[int, Stream] = {}
        self._progress: list[Callable[[dict], None]] = []
        self._closed: errors.BerthError | None = None
        self._closing = False
        self._fed = 0  # bytes fed to the Unpacker (its tell() counts in the same stream)
        self._msg_end = 0  # where the last whole message ended, in those bytes
        self._unpacker = msgpack.Unpacker(
            raw=False, unicode_errors="surrogateescape", strict_map_key=False,
            max_buffer_size=max_message, max_str_len=MAX_BLOB, max_bin_len=MAX_BLOB,
            max_array_len=MAX_ELEMENTS, max_map_len=MAX_ELEMENTS, max_ext_len=MAX_BLOB)
        self._reader = threading.Thread(target=self._read_loop, name="berth-reader", daemon=True)
        self._reader.start()

    # --- calls -----------------------------------------------------------------------------
    def send(self, method: str, arg: dict | None = None, *, opens_stream: bool = False,
             on_done: Callable[[_Call], None] | None = None) -> tuple[int, _Call]:
        """Sends a request; the id and the call its response will complete."""
        params = [] if arg is None else [arg]
        call = _Call(opens_stream, on_done)
        with self._lock:
            if self._closed is not None:
                raise self._closed
            msgid = self._next_id
            self._next_id = self._next_id % 0xFFFFFFFF + 1  # uint32, never 0
            self._calls[msgid] = call
        data = msgpack.packb([0, msgid, method, params], use_bin_type=True)
        if len(data) > self.max_message:
            self._drop(msgid)
            raise errors.InvalidArgument(
                f"{method}: the request is {len(data)} bytes, over the protocol's limit of "
                f"{self.max_message}")
        try:
            with self._send_lock:
                self.transport.sendall(data)
        except OSError as e:
            self._drop(msgid)
            raise self._closed or errors.Unavailable(f"lost the connection to berthd: {e}") \
                from e
        return msgid, call

    def wait(self, msgid: int, call: _Call, timeout: float | None) -> Any:
        if not call.done.wait(timeout):
            self._drop(msgid)
            raise errors.Timeout(f"no answer from berthd within {timeout} s")
        if call.error is not None:
            raise call.error
        return call.stream if call.opens_stream else call.result

    _DEFAULT = object()

    def call(self, method: str, arg: dict | None = None, *, timeout: Any = _DEFAULT,
             opens_stream: bool = False) -> Any:
        """Sends a request and waits for its result (a :class:`Stream` if it opens one)."""
        msgid, call = self.send(method, arg, opens_stream=opens_stream)
        return self.wait(msgid, call, self.timeout if timeout is Connection._DEFAULT else timeout)

    def add_progress_listener(self, fn: Callable[[dict], None]) -> None:
        with self._lock:
            self._progress.append(fn)

    def remove_progress_listener(self, fn: Callable[[dict], None]) -> None:
        with self._lock:
            if fn in self._progress:
                self._progress.remove(fn)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._closed is None:
                self._closed = errors.Unavailable("the client closed the connection")
        self.transport.shutdown()
        if threading.current_thread() is not self._reader:
            self._reader.join(5)
        self.transport.close()

    @property
    def closed_reason(self) -> errors.BerthError | None:
        """Why the connection ended (berthd's id-0 error, a protocol error, EOF), or None."""
        return self._closed

    def _drop(self, msgid: int) -> None:
        with self._lock:
            self._calls.pop(msgid, None)

    def _forget_stream(self, stream: Stream) -> None:
        stream._discard = True
        with self._lock:
            if self._streams.get(stream.id) is stream:
                del self._streams[stream.id]

    # --- the reader ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reason: errors.BerthError
        try:
            while True:
                data = self.transport.recv(_READ_SIZE)
                if not data:
                    reason = errors.Unavailable("berthd closed the connection")
                    break
                try:
                    self._unpacker.feed(data)
                except msgpack.BufferFull:
                    raise self._too_big() from None
                self._fed += len(data)
                for msg in self._unpack_all():
                    self._dispatch(msg)
                # The Unpacker parses a message's elements as they arrive and frees their bytes,
                # so its buffer bound alone would let a message of many small elements grow
                # without end: the bytes since the last whole message are counted here.
                if self._fed - self._msg_end > self.max_message:
                    raise self._too_big()
        except errors.BerthError as e:
            reason = e
        except OSError as e:
            reason = errors.Unavailable(f"lost the connection to berthd: {e}")
        except Exception as e:  # a bug here must not leave callers waiting forever
            reason = errors.Internal(f"the client's reader failed: {e!r}")
        self._fail_all(reason)

    def _too_big(self) -> errors.BerthError:
        return errors.ProtocolError(f"berthd sent a message over {self.max_message} bytes")

    def _unpack_all(self) -> Iterator[object]:
        while True:
            try:
                msg = next(self._unpacker)
                # tell() is where parsing stopped: after a whole message, that message's end.
                end = self._unpacker.tell()
                if end - self._msg_end > self.max_message:
                    raise self._too_big()
                self._msg_end = end
                yield msg
            except StopIteration:
                return
            except errors.BerthError:
                raise
            except Exception as e:  # msgpack's limit and format errors
                raise errors.ProtocolError(f"berthd sent a malformed message: {e}") from None

    def _dispatch(self, msg: object) -> None:
        if not isinstance(msg, list) or len(msg) not in (3, 4) or msg[0] not in (1, 2) \
                or isinstance(msg[0], bool):
            raise errors.ProtocolError("berthd sent a message that is not a response or "
                                       "notification")
        if msg[0] == 1:
            if len(msg) != 4 or not isinstance(msg[1], int) or not 0 <= msg[1] <= 0xFFFFFFFF:
                raise errors.ProtocolError("berthd sent a malformed response")
            _, msgid, error, result = msg
            if msgid == 0:
                # berthd's reason for ending the connection (docs/protocol.md "Transport").
                raise errors.from_wire(error)
            with self._lock:
                call = self._calls.pop(msgid, None)
            if call is None:
                return  # the caller gave up on it (a timeout)
            if error is not None:
                call.error = errors.from_wire(error)
            elif call.opens_stream:
                sid = result.get("stream_id") if isinstance(result, dict) else None
                if not isinstance(sid, int):
                    call.error = errors.ProtocolError("a stream's response has no stream_id")
                elif sid != 0:  # exec with detach opens none
                    # Registered before the next message is read: its notifications follow.
                    call.stream = Stream(self, sid, result)
                    with self._lock:
                        self._streams[sid] = call.stream
                call.result = result
            else:
                call.result = result
            call.done.set()
            if call.on_done:
                call.on_done(call)
            return
        if len(msg) != 3 or not isinstance(msg[1], str) or not isinstance(msg[2], list):
            raise errors.ProtocolError("berthd sent a malformed notification")
        method, params = msg[1], msg[2]
        arg = params[0] if params and isinstance(params[0], dict) else {}
        if method == "progress":
            with self._lock:
                listeners = list(self._progress)
            for fn in listeners:
                fn(arg)
            return
        if method not in ("stream.data", "stream.end"):
            return  # a notification this client does not know (newer berthd): ignored
        sid = arg.get("stream_id")
        with self._lock:
            stream = self._streams.get(sid) if isinstance(sid, int) else None
            if stream is not None and method == "stream.end":
                del self._streams[sid]
        if stream is None:
            return  # closed by its reader
        if method == "stream.data":
            data = arg.get("data", b"")
            if isinstance(data, str):
                data = data.encode("utf-8", "surrogateescape")
            stream._put(Output(int(arg.get("fd", 1)), int(arg.get("time", 0)), bytes(data)))
        else:
            stream._put({"has_exit_code": bool(arg.get("has_exit_code", False)),
                         "exit_code": int(arg.get("exit_code", 0)),
                         "error": str(arg.get("error", ""))})

    def _fail_all(self, reason: errors.BerthError) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = reason
            reason = self._closed
            calls, self._calls = self._calls, {}
            streams, self._streams = self._streams, {}
        for call in calls.values():
            call.error = reason
            call.done.set()
            if call.on_done:
                call.on_done(call)
        for stream in streams.values():
            stream._put(reason)


def deadline_left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (a time.monotonic() value), or None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


__all__ = ["Connection", "Stream", "Output", "MAX_MESSAGE", "deadline_left"]

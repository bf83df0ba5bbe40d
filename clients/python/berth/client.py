"""berth.Client: the calls the berth CLI uses most, over one :class:`~berth.connection.Connection`.

Each method names the protocol method it sends (docs/protocol.md "Methods") and returns its
result as berthd sent it (dicts with the document's field names); methods that open a stream
return a :class:`~berth.connection.Stream`. Arguments left out take berthd's defaults, because
berthd fills in every key a request does not send.
"""

from __future__ import annotations

import os
import queue
from typing import Any, Iterator, NamedTuple

from . import errors
from .connection import Connection, Stream
from .transport import DEFAULT_HOST, connect


class RunResult(NamedTuple):
    """What :meth:`Containers.run` saw: the container, its exit and its output."""

    id: str
    name: str
    exit_code: int
    reason: str
    stdout: bytes
    stderr: bytes


class ExecResult(NamedTuple):
    exec_id: str
    exit_code: int | None
    stdout: bytes
    stderr: bytes


def _spec(**fields: Any) -> dict:
    """A request argument without the keys left at None (berthd's defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None}


class _Resource:
    def __init__(self, client: "Client"):
        self._c = client

    def _call(self, method: str, arg: dict | None = None, **kw: Any) -> Any:
        return self._c.connection.call(method, arg, **kw)


class System(_Resource):
    def ping(self) -> None:
        """``system.ping``: raises if berthd does not answer."""
        self._call("system.ping")

    def info(self) -> dict:
        """``system.info``: the ``system_info`` map."""
        return self._call("system.info")

    def version(self) -> str:
        """berthd's version (``system.info``'s ``version``)."""
        return self.info()["version"]


class Containers(_Resource):
    def create(self, image: str, cmd: list[str] | None = None, *, name: str = "",
               **spec: Any) -> dict:
        """``container.create``; ``spec`` takes any ``container_spec`` field (env, labels,
        auto_remove, healthcheck, ...). Returns ``{"id", "name"}``."""
        return self._call("container.create", _spec(image=image, cmd=cmd, name=name, **spec))

    def start(self, container: str, timeout: float | None = 300) -> None:
        self._call("container.start", {"container": container}, timeout=timeout)

    def run(self, image: str, cmd: list[str] | None = None, *, detach: bool = False,
            remove: bool = False, timeout: float | None = None, **spec: Any) -> RunResult | dict:
        """Creates and starts a container as ``berth run`` does (attach before start, then
        wait). Detached: returns ``{"id", "name"}`` once it runs. Else waits for its exit and
        returns a :class:`RunResult` with its output (at most what memory holds: for long
        output use :meth:`attach` or :meth:`logs`). ``remove`` is ``--rm`` (``auto_remove``)."""
        created = self.create(image, cmd, auto_remove=remove or None, **spec)
        cid = created["id"]
        if detach:
            self.start(cid)
            return created
        out = self.attach(cid)
        out.timeout = timeout
        try:
            self.start(cid)
        except errors.BerthError:
            out.close()
            raise
        stdout, stderr = out.read_all()
        exited = self.wait(cid, timeout=timeout)
        return RunResult(cid, created["name"], exited["exit_code"], exited.get("reason", ""),
                         stdout, stderr)

    def attach(self, container: str, stdin: bool = False) -> Stream:
        """``container.attach``: its output from now on; ends (with its exit code) when it
        exits."""
        return self._call("container.attach", {"container": container, "stdin": stdin},
                          opens_stream=True)

    def wait(self, container: str, timeout: float | None = None) -> dict:
        """``container.wait``: ``{"exit_code", "reason"}`` once it exited. A created container
        that never started is waited for until it runs and exits, as ``docker wait`` does."""
        return self._call("container.wait", {"container": container}, timeout=timeout)

    def stop(self, container: str, timeout: int = 10) -> None:
        self._call("container.stop", {"container": container, "timeout": timeout},
                   timeout=None if timeout < 0 else timeout + 60)

    def restart(self, container: str, timeout: int = 10) -> None:
        self._call("container.restart", {"container": container, "timeout": timeout},
                   timeout=None if timeout < 0 else timeout + 300)

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        self._call("container.kill", {"container": container, "signal": str(signal)})

    def remove(self, container: str, force: bool = False) -> None:
        self._call("container.remove", {"container": container, "force": force}, timeout=120)

    rm = remove

    def list(self, all: bool = False) -> list[dict]:
        """``container.list``: newest first; only running ones unless ``all``."""
        return self._call("container.list", {"all": all})

    ls = list

    def inspect(self, container: str) -> dict:
        return self._call("container.inspect", {"container": container})

    def stats(self, container: str) -> dict:
        return self._call("container.stats", {"container": container})

    def logs(self, container: str, *, follow: bool = False, tail: int = -1,
             timestamps: bool = False, boot: bool = False) -> Stream:
        """``container.logs``: the stored log (the last ``tail`` lines of stdout and stderr
        together), then with ``follow`` the live output until the container exits."""
        return self._call("container.logs",
                          {"container": container, "follow": follow, "tail": tail,
                           "timestamps": timestamps, "boot": boot}, opens_stream=True)

    def exec(self, container: str, cmd: list[str], *, env: list[str] | None = None,
             workdir: str | None = None, user: str | None = None, tty: bool = False,
             stdin: bool = False, detach: bool = False) -> Stream | dict:
        """``container.exec``: a :class:`Stream` of its output, ending with its exit code
        (``stream.exec_id`` names it). Detached: ``{"exec_id", "stream_id": 0}``."""
        arg = _spec(container=container, cmd=cmd, env=env, workdir=workdir, user=user, tty=tty,
                    open_stdin=stdin, detach=detach)
        if detach:
            return self._call("container.exec", arg)
        stream = self._call("container.exec", arg, opens_stream=True)
        stream.exec_id = stream.result.get("exec_id", "")
        return stream

    def exec_run(self, container: str, cmd: list[str], timeout: float | None = None,
                 **kw: Any) -> ExecResult:
        """Runs ``cmd`` in the container to its end; its exit code and output."""
        stream = self.exec(container, cmd, **kw)
        stream.timeout = timeout
        stdout, stderr = stream.read_all()
        if stream.error and stream.exit_code is None:
            raise errors.Internal(f"exec {cmd!r}: {stream.error}")
        return ExecResult(stream.exec_id, stream.exit_code, stdout, stderr)


class PullProgress:
    """The ``progress`` notifications of one pull, as an iterator of dicts; :attr:`image` is
    the pulled image's ``image_info`` once iteration ended (its error is raised instead)."""

    def __init__(self, client: "Client", reference: str, platform: str):
        self._conn = client.connection
        self._queue: queue.Queue = queue.Queue()
        self.image: dict | None = None
        self.reference = reference
        self._conn.add_progress_listener(self._on_progress)
        try:
            self._conn.send("image.pull", {"reference": reference, "platform": platform},
                            on_done=self._queue.put)
        except BaseException:
            self._conn.remove_progress_listener(self._on_progress)
            raise

    def _on_progress(self, note: dict) -> None:
        # progress carries no request id: a pull hears the notes that name its reference (or,
        # since berthd may name it normalised, every note while it is the only one).
        ref = note.get("reference", "")
        if not ref or ref == self.reference or self.reference in ref:
            self._queue.put(note)

    def __iter__(self) -> Iterator[dict]:
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, dict):
                    yield item
                    continue
                if item.error is not None:
                    raise item.error
                self.image = item.result
                return
        finally:
            self._conn.remove_progress_listener(self._on_progress)


class Images(_Resource):
    def list(self) -> list[dict]:
        return self._call("image.list")

    ls = list

    def pull(self, reference: str, platform: str = "", progress: Any = None) -> dict:
        """``image.pull``; ``progress`` (optional) is called with each ``progress`` note."""
        pull = PullProgress(self._c, reference, platform)
        for note in pull:
            if progress:
                progress(note)
        return pull.image

    def pull_progress(self, reference: str, platform: str = "") -> PullProgress:
        """Starts a pull; iterate the result for its progress, then read ``.image``."""
        return PullProgress(self._c, reference, platform)

    def remove(self, reference: str, force: bool = False) -> dict:
        return self._call("image.remove", {"reference": reference, "force": force})

    rm = remove

    def inspect(self, reference: str) -> dict:
        return self._call("image.inspect", {"reference": reference})

    def tag(self, source: str, target: str) -> None:
        self._call("image.tag", {"source": source, "target": target})


class Networks(_Resource):
    def list(self) -> list[dict]:
        return self._call("network.list")

    ls = list

    def create(self, name: str, subnet: str = "", gateway: str = "",
               internal: bool = False) -> dict:
        return self._call("network.create", {"name": name, "subnet": subnet,
                                             "gateway": gateway, "internal": internal})

    def inspect(self, name: str) -> dict:
        return self._call("network.inspect", {"name": name})

    def remove(self, name: str) -> None:
        self._call("network.remove", {"name": name})

    rm = remove


class Volumes(_Resource):
    def list(self) -> list[dict]:
        return self._call("volume.list")

    ls = list

    def create(self, name: str = "", size: int = 0) -> dict:
        return self._call("volume.create", {"name": name, "size": size})

    def inspect(self, name: str) -> dict:
        return self._call("volume.inspect", {"name": name})

    def remove(self, name: str, force: bool = False) -> None:
        self._call("volume.remove", {"name": name, "force": force})

    rm = remove


class Client:
    """A connection to berthd and its resources: ``client.system``, ``client.containers``,
    ``client.images``, ``client.networks``, ``client.volumes``.

    ``host`` is ``unix:///path`` (default: ``BERTH_HOST``, else ``unix:///run/berth/berthd.sock``);
    ``tcp://`` raises :class:`berth.errors.Unsupported` until berthd serves TLS. ``timeout`` is
    the default seconds a call waits for its answer (None: forever); calls that wait for a
    container (``wait``, ``run``) wait without one unless given. Thread-safe: any thread may
    call; one reader thread serves all. Use it as a context manager, or :meth:`close` it.
    """

    def __init__(self, host: str | None = None, timeout: float | None = 60.0,
                 connect_timeout: float | None = 10.0):
        self.host = host or os.environ.get("BERTH_HOST") or DEFAULT_HOST
        self.connection = Connection(connect(self.host, connect_timeout), timeout=timeout)
        self.system = System(self)
        self.containers = Containers(self)
        self.images = Images(self)
        self.networks = Networks(self)
        self.volumes = Volumes(self)

    def call(self, method: str, arg: dict | None = None, **kw: Any) -> Any:
        """Any method of docs/protocol.md by name (``opens_stream=True`` for stream methods)."""
        return self.connection.call(method, arg, **kw)

    def ping(self) -> None:
        self.system.ping()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



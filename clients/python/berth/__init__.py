"""berth: a Python client for berthd, written from docs/protocol.md.

    import berth
    with berth.Client() as c:            # BERTH_HOST, else unix:///run/berth/berthd.sock
        c.system.ping()
        r = c.containers.run("busybox", ["echo", "hi"], remove=True)
        print(r.exit_code, r.stdout)

Errors are typed (``berth.errors.NotFound``, ``Conflict``, ...; each has ``.code`` and
``.message``); streams (logs, attach, exec, pull progress) are iterators.
"""

from . import errors
from .client import Client, ExecResult, PullProgress, RunResult
from .connection import MAX_MESSAGE, Connection, Output, Stream
from .errors import BerthError
from .transport import DEFAULT_HOST

__version__ = "0.1.0"

__all__ = ["Client", "Connection", "Stream", "Output", "RunResult", "ExecResult", "PullProgress",
           "BerthError", "errors", "DEFAULT_HOST", "MAX_MESSAGE"]

"""`inpaintzoo serve`: a local web page to paint a hole and fill it with several models side by side.

The server needs the optional `web` extra (Starlette, uvicorn, python-multipart); `require_web` says how
to get it. `create_app` builds the app (see `inpaintzoo.web.app` for the HTTP API); `serve` binds a
socket (loopback unless told otherwise), prints the URL and runs it until Ctrl-C.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inpaintzoo.errors import UsageError

if TYPE_CHECKING:
    from inpaintzoo.web.inputs import Limits
    from inpaintzoo.web.models import ServedModel

WEB_MODULES = ("starlette", "uvicorn", "multipart")


def require_web() -> None:
    """Raise a UsageError naming the install command when the web extra is missing."""
    import importlib.util

    missing = [name for name in WEB_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"`inpaintzoo serve` needs the web extra ({', '.join(missing)} missing): pip install 'inpaintzoo[web]'"
        )


def create_app(models: list[ServedModel], limits: Limits | None = None, workers: int = 2) -> Any:
    """The Starlette app over already loaded `models` (see `inpaintzoo.web.models.load_models`)."""
    require_web()
    from inpaintzoo.web.app import create_app as _create_app

    return _create_app(models, limits, workers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one), or a UsageError that says why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror} (try another --port)") from None
    sock.listen(128)
    return sock


def serve(
    models: list[ServedModel],
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: Limits | None = None,
    workers: int = 2,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> None:
    """Serve `models` on host:port until interrupted; prints the URL once the socket listens.

    Each of the `workers` fills that run at once gets its share of the cores as torch threads: more would
    oversubscribe the CPU, which slows small convolutions tenfold or worse on a busy machine.
    """
    require_web()
    import os

    import torch
    import uvicorn

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, workers)))

    app = create_app(models, limits, workers)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    if not is_loopback(host):
        warn(f"serving on {host}, not loopback: anyone who can reach this machine can use the models")
    shown = f"[{host}]" if ":" in host else host
    count = f"{len(models)} model" + ("s" if len(models) != 1 else "")
    echo(f"inpaintzoo serve: http://{shown}:{bound}/ ({count}; Ctrl-C stops)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])

"""`inpaintzoo serve`: the local web page that fills a painted hole with several models side by side."""

from __future__ import annotations

from pathlib import Path

import click

from inpaintzoo.cli import common
from inpaintzoo.cli.options import DEVICE_OPTION
from inpaintzoo.errors import UsageError
from inpaintzoo.web import require_web
from inpaintzoo.web import serve as serve_web


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback: this machine only).")
@click.option("--port", default=7860, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--model", "names", multiple=True, metavar="NAME", help="A pretrained model to offer (repeatable).")
@click.option(
    "--run", "run_dirs", multiple=True, type=click.Path(path_type=Path), metavar="RUN_DIR", help="A run to offer."
)
@click.option("--max-side", default=2048, show_default=True, help="Refuse images longer than this on a side (px).")
@click.option("--max-upload-mb", default=16.0, show_default=True, help="Refuse uploads larger than this (MB).")
@click.option("--workers", default=2, show_default=True, help="Fills that run at the same time.")
@DEVICE_OPTION
def serve(
    host: str,
    port: int,
    names: tuple[str, ...],
    run_dirs: tuple[Path, ...],
    max_side: int,
    max_upload_mb: float,
    workers: int,
    device: str,
) -> None:
    """A local web page: paint a hole, fill it with several models, compare them side by side.

    Offers every pretrained model unless --model or --run is given. Needs `pip install 'inpaintzoo[web]'`.
    """
    require_web()
    from inpaintzoo.web.inputs import Limits  # the web extra (and torch): imported once it is known to be there
    from inpaintzoo.web.models import load_models

    if max_side < 1 or max_upload_mb <= 0 or workers < 1:
        raise UsageError("--max-side, --max-upload-mb and --workers must be positive")
    models = load_models(names, run_dirs, device=device)
    limits = Limits(max_side=max_side, max_upload_bytes=int(max_upload_mb * 2**20))
    serve_web(
        models,
        host=host,
        port=port,
        limits=limits,
        workers=workers,
        echo=click.echo,
        warn=lambda line: common.err_console.print(f"[yellow]warning:[/] {line}", highlight=False),
    )

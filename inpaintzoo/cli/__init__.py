"""The `inpaintzoo` command: thin click commands that parse, call the library and render with rich.

One module a command (`list` in `components`, `eval` in `evaluate`, `train -m` in `sweep`, ...), each attached
to the root group of `app` here; what they share (consoles, the registry, the model a command works on) is in
`common`, shared options in `options`. Policy lives in the library, where the web app uses it too.

Command modules import torch-bearing library modules inside the command, so `inpaintzoo --help` and a usage
error answer without importing torch. Every error a user can cause ends as one line on stderr and exit
status 2, without a traceback (`app.main`).
"""

from __future__ import annotations

from inpaintzoo.cli.app import cli, main
from inpaintzoo.cli.components import list_cmd
from inpaintzoo.cli.config import config_cmd
from inpaintzoo.cli.demo import demo
from inpaintzoo.cli.evaluate import eval_cmd
from inpaintzoo.cli.export import export_cmd
from inpaintzoo.cli.info import info
from inpaintzoo.cli.inpaint import inpaint
from inpaintzoo.cli.models import models_cmd
from inpaintzoo.cli.serve import serve
from inpaintzoo.cli.train import train

for _command in (list_cmd, train, config_cmd, eval_cmd, inpaint, demo, models_cmd, export_cmd, serve, info):
    cli.add_command(_command)

__all__ = ["cli", "main"]

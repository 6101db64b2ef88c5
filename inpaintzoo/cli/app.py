"""The root `inpaintzoo` group and the console entry point that turns every user error into one line.

Every error a user can cause ends as one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click
from rich.markup import escape

from inpaintzoo.cli import common
from inpaintzoo.errors import InpaintzooError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--disable-plugin",
    "disabled",
    multiple=True,
    metavar="NAME",
    help="Do not load this plugin (repeatable; also $INPAINTZOO_DISABLE_PLUGINS=a,b).",
)
@click.version_option(package_name="inpaintzoo")
@click.pass_context
def cli(ctx: click.Context, disabled: tuple[str, ...]) -> None:
    """inpaintzoo: train, evaluate and use image-inpainting models.

    \b
    Typical use:
      inpaintzoo models                    pretrained models and their test metrics
      inpaintzoo inpaint photo.png --mask stroke.png --model unet.freeform --compare
      inpaintzoo serve                     a web page: paint a hole, compare models side by side
      inpaintzoo list                      every component, with its parameters
      inpaintzoo train data=samples train.epochs=2
      inpaintzoo train -m encoder=strided,resnet train.lr=1e-3,3e-4 data=cifar10
      inpaintzoo eval runs/<run>           metrics on the test split + a PNG grid
      inpaintzoo export runs/<run> unet.mine --score
    """
    ctx.ensure_object(dict)
    ctx.obj["disabled"] = disabled


def show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A warning as one `warning:` line on stderr, without the source line Python would quote."""
    common.warn(escape(one_line(str(message))))


def one_line(text: str) -> str:
    """A message's lines joined into one (a log keeps one line per error)."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def click_error_line(exc: click.ClickException) -> str:
    """click's message (its did-you-mean included) as one line, pointing at --help instead of a Usage block."""
    message = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see {ctx.command_path} --help)"
    return message


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or "out of memory" in str(exc)


def error(message: str) -> None:
    """One `error:` line on stderr (`message` is rich markup)."""
    common.err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning user errors into one line and exit status 2."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        run_cli(argv)


def run_cli(argv: list[str] | None) -> None:
    """Run the group; a user's error, click's usage errors and running out of memory are one line, exit 2."""
    try:
        cli.main(args=argv, prog_name="inpaintzoo", standalone_mode=False)
    except click.exceptions.Abort:
        common.err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `inpaintzoo` alone: the help text is the answer
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        error(escape(click_error_line(exc)))
        sys.exit(2)
    except InpaintzooError as exc:
        error(escape(one_line(str(exc))))
        sys.exit(2)
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        error(
            f"out of memory ({escape(one_line(str(exc))[:160])}): lower train.batch_size or the "
            "model's width, or use a device with more memory"
        )
        sys.exit(2)
    except KeyboardInterrupt:
        common.err_console.print("interrupted")
        sys.exit(130)

"""Small helpers several test files share (imported as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import pytest

from inpaintzoo.cli import main

#: the smallest context encoder the builtins make, on the embedded sample photos
TINY_MODEL = ["data=samples", "encoder=cnn", "encoder.width=8", "encoder.bottleneck=16", "decoder.width=8"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `inpaintzoo ARGS...` in this process: (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err

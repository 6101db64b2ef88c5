"""`inpaintzoo list`: the registered components and their parameters."""

from __future__ import annotations

import click
from rich.markup import escape

from inpaintzoo.catalog import component_rows, find_components, render_components
from inpaintzoo.cli import common


@click.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, pattern: str, as_json: bool) -> None:
    """List registered components, optionally of one KIND and matching a glob PATTERN.

    KIND is one of encoder, decoder, discriminator (or disc), density, loss, dataset (or data), mask.
    A single argument that is not a kind is taken as the pattern: `inpaintzoo list 'res*'`.
    Two plugins registering one name are reported on stderr; the first one's component is listed.
    """
    registry = common.get_registry(ctx, strict=False)
    components = find_components(registry, kind, pattern)
    for message in registry.collisions:
        common.warn(escape(message))
    if as_json:
        common.echo_json(component_rows(components))
    else:
        click.echo(render_components(components, common.text_width()))

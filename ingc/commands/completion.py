"""`ingc completion bash|zsh|fish`: print the shell completion script (click's own completion)."""

from __future__ import annotations

import click

INSTALL = {
    "bash": 'eval "$(ingc completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(ingc completion zsh)"    # in ~/.zshrc',
    "fish": "ingc completion fish > ~/.config/fish/completions/ingc.fish",
}


@click.command(name="completion")
@click.argument("shell", type=click.Choice(sorted(INSTALL)))
def command(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
      bash: eval "$(ingc completion bash)"   # in ~/.bashrc
      zsh:  eval "$(ingc completion zsh)"    # in ~/.zshrc
      fish: ingc completion fish > ~/.config/fish/completions/ingc.fish
    """
    from click.shell_completion import get_completion_class

    from ingc.cli import main

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion support for {shell}")
    comp = cls(main, {}, "ingc", "_INGC_COMPLETE")
    click.echo(comp.source(), nl=False)

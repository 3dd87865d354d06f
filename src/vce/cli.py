"""The ``vce`` command. Each component owns its subcommands in ``vce.<component>.cli``.

Exit codes are a contract other tools rely on: 0 success (or "allowed"), 1 a negative
decision (denied, verification failed), 2 unusable input.
"""

from __future__ import annotations

import importlib

import click

# subcommand name -> "module:attribute" of a click command or group; imported lazily so that
# `vce datasets ...` does not pay for JupyterHub imports and vice versa.
SUBCOMMANDS: dict[str, str] = {
    "datasets": "vce.data.cli:datasets",
    "check": "vce.policy.cli:check",
    "audit": "vce.airlock.cli:audit",
    "airlock": "vce.airlock.cli:airlock",
    "project": "vce.hub.cli:project",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand whose module is importable."""
        return sorted(n for n in SUBCOMMANDS if self.get_command(ctx, n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import ``cmd_name``'s module on first use; unknown or absent → ``None``."""
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # component not built yet; a broken import still raises
                return None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vce")
def main() -> None:
    """VCE: datasets, query checks, the airlock and projects of a Virtual Compute Environment."""


if __name__ == "__main__":
    main()

"""JupyterHub configuration of VCE. Edit vce.toml (docs/reference/configuration.md), not this."""

from vce.hub.app import configure

configure(get_config())  # type: ignore[name-defined]  # noqa: F821

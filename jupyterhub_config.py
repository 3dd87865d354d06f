"""JupyterHub configuration of VCE. Edit vce.toml (docs/reference/configuration.md), not this."""

from vce.hub.app import configure
from vce.hub.guard import install

settings = configure(get_config())  # type: ignore[name-defined]  # noqa: F821
install(settings["network"]["subnet"], settings.gateway, settings.airlock_database_url)

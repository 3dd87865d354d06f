"""The hub: JupyterHub configuration, the hardened sandbox spawner and project provisioning.

``jupyterhub_config.py`` at the top of the repository only calls :func:`vce.hub.app.configure`;
everything a deployment can change lives in ``vce.toml`` (see :mod:`vce.hub.config`).
"""

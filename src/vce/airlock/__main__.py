"""``python -m vce.airlock`` runs the service (what a JupyterHub service command can use)."""

if __name__ == "__main__":
    from vce.airlock.service import serve

    serve()

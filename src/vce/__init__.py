"""VCE: a Virtual Compute Environment for research on platform data.

Inside a sandbox, ``import vce`` gives researchers the client (``vce.connect()``,
``vce.check()``, ``vce.request_export()`` …); on the trusted side the same package holds the
policy engine, the airlock and the hub configuration.
"""

__version__ = "0.1.0"

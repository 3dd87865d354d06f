"""The airlock: the only way out of the sandbox.

Export requests arrive over a JSON API, are re-executed on the full extracts with the policy
engine, reviewed by two people who are not on the project, and released as files with a
provenance manifest. Every decision lands in a hash-chained audit log. Layers: views
(:mod:`vce.airlock.app`) → business logic (:mod:`~vce.airlock.workflow`,
:mod:`~vce.airlock.projects`) → data access (:mod:`~vce.airlock.models`, :mod:`~vce.airlock.db`).
"""

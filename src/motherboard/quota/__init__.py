"""Quota administration for platform teams: ``motherboard queue tree|set|pending`` and
``motherboard explain aijob`` (also ``kubectl motherboard …``).

Pure modules compute what is shown (:mod:`.usage`, :mod:`.edit`, :mod:`.explain`); :mod:`.fetch` talks to
the API server; :mod:`.output` prints rich tables or JSON/YAML; :mod:`.cli` wires them to Typer. Edits are
validated exactly as the admission webhook validates them (the pydantic model, then
``motherboard.operator.validation.check_queue``) before anything is written.
"""

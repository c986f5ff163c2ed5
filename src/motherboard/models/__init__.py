"""The model layer: import and analyse a model once, compile it per hardware target, store the artifacts.

This package imports no Kubernetes client: the operator, the CLI and the tests drive it. The serving path
(:mod:`motherboard.models.runner`) loads artifacts through runtime libraries only and never imports a
compiler.
"""

"""The shipped placement profiles (``<name>.yaml``), package data read at runtime.

``scheduler/profiles/`` at the repository root holds identical copies for people browsing the source; a unit
test fails when the two differ.
"""

"""PML: the national patient medication list (the legemiddel core module of Akson)."""

__version__ = "0.1.0"

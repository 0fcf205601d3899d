"""PhiWall endpoint agent: fingerprints clinical media and stops it leaking to AI services."""

__version__ = "0.1.0"

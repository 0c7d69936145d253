"""OpenDEMS: an open Digital Evidence Management System."""

__version__ = "0.1.0"

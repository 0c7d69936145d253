"""The ``opendems`` command line."""

from __future__ import annotations

import os

# numpy's OpenBLAS starts a thread per core when numpy is imported, and each one spins for a
# while waiting for work: 0.1 s of CPU in every command on two cores, taken from the hashing
# and encryption of an ingest that is running beside it. OpenDEMS's own matrix work (meaning
# search over a few hundred thousand vectors at most) gains nothing from more threads; an
# operator who wants them sets OPENBLAS_NUM_THREADS, which this leaves alone.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

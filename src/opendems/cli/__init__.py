"""The ``opendems`` command line."""

from __future__ import annotations

import os

# numpy's OpenBLAS starts a thread per core when numpy is imported, and each one spins for a
# while waiting for work: 0.1 s of CPU in every command on two cores, taken from the hashing
# and encryption of an ingest that is running beside it. OpenDEMS's one matrix product
# (meaning search scores at most 20,000 documents' vectors) takes milliseconds on one core; an
# operator who wants more threads sets OPENBLAS_NUM_THREADS, which this leaves alone.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

"""Fingerprints of a task's data: what a data source's fingerprint() hashes, so a record names
the exact samples it was trained and tested on (split_fingerprint)."""

import hashlib

import numpy as np


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' bytes (callers fix the dtypes): what a source's fingerprint() hashes."""
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def labels_fingerprint(*label_sequences) -> str:
    """sha256 of label sequences as int64."""
    return fingerprint(*(np.asarray(labels, dtype=np.int64) for labels in label_sequences))

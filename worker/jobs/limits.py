"""The memory limit of a work horse: an address-space cap (``RLIMIT_AS``) set in the horse right after fork.

``LOSSDOCTOR_JOB_MEMORY_LIMIT_MB`` is the address space a job may add on top of what the worker already
holds when it forks the horse (Python, numpy and torch preloaded), so one setting fits workers whatever
they preload. Past it an allocation fails inside the horse (``MemoryError``, or torch's ``RuntimeError``
"can't allocate memory") instead of the kernel's OOM killer taking the worker or its neighbours; the task
turns that into a ``failed`` job with type ``out_of_memory``. ``0`` sets no limit (the default): address
space is not resident memory, and CUDA reserves far more address space than it uses, so the cap suits
CPU workers. Linux only; elsewhere the setting is ignored with a warning.
"""

from __future__ import annotations

import logging
import os
import resource
import sys

log = logging.getLogger(__name__)

#: Bytes in a MiB, the unit of ``LOSSDOCTOR_JOB_MEMORY_LIMIT_MB``.
MIB = 1024 * 1024
#: Phrases in the messages of failed allocations (torch on CPU and CUDA, numpy, Python).
OUT_OF_MEMORY_PHRASES = ("can't allocate memory", "out of memory", "unable to allocate", "cannot allocate memory")


def address_space_bytes() -> int:
    """This process's current virtual address space in bytes (Linux ``/proc/self/statm``), 0 if unknown."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def limit_memory(extra_mb: int) -> int | None:
    """Cap this process's address space at its current size plus ``extra_mb`` MiB; returns the cap in bytes.

    ``extra_mb`` 0 leaves the process unlimited and returns None.
    """
    if extra_mb <= 0:
        return None
    if not sys.platform.startswith("linux"):
        log.warning("LOSSDOCTOR_JOB_MEMORY_LIMIT_MB is set but only applies on Linux; the job runs unlimited")
        return None
    cap = address_space_bytes() + extra_mb * MIB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (``MemoryError``, or a torch/numpy error that says so)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError | ValueError) and any(phrase in text for phrase in OUT_OF_MEMORY_PHRASES)

"""The task's old path, ``worker.task.run``, kept for one release so that jobs enqueued before the worker
was split into layers still run; new jobs are enqueued as ``worker.jobs.task.run``."""

from worker.jobs.task import run

__all__ = ["run"]

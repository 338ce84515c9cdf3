"""The queue side: the rq task, the job and run stores, settings, limits and the worker process.

Redis and rq, never torch: the task loads the engine by its dotted path when a job runs."""

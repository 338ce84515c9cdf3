"""The torch side: checks, models, instruments, probes, the plain loop, the stacked loop, the runner and
``job.run_job``, which turns a spec into a result."""

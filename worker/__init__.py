"""lossdoctor's worker side, in layers; each may import only the layers listed after it (a test holds this).

- ``contract``: the job spec, job record, events, errors and telemetry; pydantic only.
- ``jobs``: the queue side (the rq task, the job store, settings, the worker process); redis and rq, no torch.
- ``data``: a job's inputs read and checked without torch (data sets, uploads, ONNX files, pre-flight).
- ``diagnosis``: evidence, measures, rules, ranking and the summary; pure Python, no torch.
- ``engine``: torch. Checks, models, instruments, probes, the plain loop, the stack, the runner, ``run_job``.

contract <- data <- diagnosis <- engine; jobs reaches the engine only by a dotted path at run time.
"""

"""The lossdoctor engine: job spec, data, models, the instrumented training loop, probes and diagnosis."""

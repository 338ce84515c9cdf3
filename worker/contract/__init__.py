"""What the API, the queue and the engine agree on: the job spec, errors and telemetry. Pydantic only."""

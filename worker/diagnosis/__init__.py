"""From recorded numbers to a diagnosis: evidence, measures, rules, ranking, the summary, curve rules.

Pure Python over plain numbers; no torch, so the API can diagnose uploaded curves and monitor telemetry."""

"""Probes trained together: G models of one architecture as one stack, one step for all."""

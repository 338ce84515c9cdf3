"""Training: the problem as tensors, losses, optimizers and the one instrumented loop."""

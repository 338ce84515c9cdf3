"""``lossdoctor.Monitor``: watches a team's own PyTorch training loop (imports torch; the client does not)."""

from lossdoctor.monitor.monitor import Monitor

__all__ = ["Monitor"]

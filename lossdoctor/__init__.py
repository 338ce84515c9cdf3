"""The ``lossdoctor`` command: ``up``, ``api``, ``worker``, ``redis`` and ``diagnose``."""

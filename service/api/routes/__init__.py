"""One module per route group; ``service.api.main`` includes them all."""

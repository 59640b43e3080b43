"""Orchestrators: run a cell, a user's function, a grid or a sweep through the one pipeline.
They never print; progress goes through callbacks."""

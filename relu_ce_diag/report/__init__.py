"""Renderers of results: Rich tables for people, JSON (and JUnit) for machines."""

"""Frozen result records: of a cell, of a grid run and of a step-size sweep."""

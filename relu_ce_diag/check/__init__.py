"""The check pipeline: one way to judge f and df from any source (the built-in network, a
user's function; entry by entry or along random directions)."""

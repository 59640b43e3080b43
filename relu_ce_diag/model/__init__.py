"""The model: activations, losses and the reference network, each fact on its record."""

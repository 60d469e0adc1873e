"""The *Network* panel: the model's modules and parameters as a tree, its filters and tools."""

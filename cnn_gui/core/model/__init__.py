"""The networks: built-in models, a user's own nn.Module, the structure tree."""

"""Turn what the user asks for into session calls: train, open, save, export."""

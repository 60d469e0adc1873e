"""The training plots of the main window: accuracy per epoch and loss/accuracy per batch, live."""

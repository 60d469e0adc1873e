"""Start-up: the window's frame first, torch and the network a moment later."""

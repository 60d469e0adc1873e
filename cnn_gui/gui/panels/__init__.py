"""The window's panels: network tree, training controls, curves, canvas, runs."""

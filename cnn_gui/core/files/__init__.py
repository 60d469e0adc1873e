"""Files cnn-gui writes and reads: checkpoints and their metadata, exports, CSV."""

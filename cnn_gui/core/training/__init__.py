"""The training loop and what it needs: control flags, augmentation, CPU threads."""

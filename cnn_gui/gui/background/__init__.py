"""The ways work runs off the GUI thread: jobs, and the training thread."""

"""Training runs as data: the run folder's layout, its writer, follower and reader."""

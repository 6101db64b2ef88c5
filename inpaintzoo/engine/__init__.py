"""Training loops, checkpoints, moving averages."""

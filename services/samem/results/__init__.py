"""What `samem track` writes: label stacks, the overlay preview, trajectories.csv and run.json.

Owns output files of tracking; knows nothing of models or of how masks were made.
"""

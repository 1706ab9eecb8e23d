"""Reading and writing of the files samem exchanges with users: tables, stacks and output directories.

Owns file formats and atomicity; knows nothing of models, trackers or statistics.
"""

"""Trajectory statistics (placeholder; being written)."""

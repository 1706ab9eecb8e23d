"""Physics-based LPTEM video simulator (placeholder; being written)."""

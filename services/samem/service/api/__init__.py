"""Generated gRPC code of ``proto/samem/v1`` (do not edit: run ``make proto``; a test checks it is up to date)."""

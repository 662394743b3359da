"""Business rules. No HTTP here: services take plain values and raise AppError."""

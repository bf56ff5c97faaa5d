"""Training-side helpers for the built-in model: synthetic captioned data and its scorer."""

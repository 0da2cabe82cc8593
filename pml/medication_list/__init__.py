"""The shared medication list: one per patient, versioned, with an append-only change history."""

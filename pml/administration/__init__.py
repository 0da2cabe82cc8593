"""Administration records: what home care gave, partly gave or did not give, append-only with corrections."""

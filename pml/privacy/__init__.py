"""Patient privacy: blocks (sperring) of named clinicians or organisations, and emergency access."""

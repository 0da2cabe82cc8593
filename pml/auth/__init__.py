"""Identity: HelseID-style tokens, the development signing key and the claims PML reads."""

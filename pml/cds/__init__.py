"""Decision-support cards PML issued through CDS Hooks, and what the clinicians did with them (feedback)."""

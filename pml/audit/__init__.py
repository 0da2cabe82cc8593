"""The audit log: who looked at or changed whose medication list, why, and with what outcome."""

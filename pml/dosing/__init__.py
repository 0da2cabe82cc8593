"""Doses due: from an entry's structured dosage, the doses scheduled on a day in the municipality's time zone.

The daylight-saving rules are in `pml.dosing.clock`; which entries and which times in `pml.dosing.schedule`.
"""

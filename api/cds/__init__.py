"""CDS Hooks 2.0 under /cds-services: interaction advice for prescribers' record systems (order-select and
order-sign), and the feedback endpoint."""

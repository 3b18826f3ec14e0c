"""School hardware: inventory, loans, anti-virus scans, disposal, the inventory report."""

"""Parents come in by invitation: the office issues a single-use code for a carer."""

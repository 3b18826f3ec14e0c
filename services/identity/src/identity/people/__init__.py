"""People (pupils, staff, parents, governors, visitors) and the links between carers and pupils."""

"""The register of staff and visitor devices, and the head's permissions to take images on them."""

"""The organisation: departments, roles, service units and who belongs where."""

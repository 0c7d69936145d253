"""Use cases. Each takes the acting principal and the ports it needs."""

"""Real services for the scale-out tests, started on loopback by the tests themselves."""

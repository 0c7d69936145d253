"""Computer vision adapters: face detection for redaction."""

"""Questions asked of finished studies, one module per question (``python -m analysis.<question>``)."""

"""Settlement-account assistant: the framework-free domain (validation, storage, handoff, channels)."""

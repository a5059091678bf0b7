"""What every layer may read about the running process: its settings, its metrics and the
client address rules. It imports only service.model."""

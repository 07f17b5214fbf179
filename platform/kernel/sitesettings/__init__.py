"""Settings and enabled modules chosen in the web UI, below openitsm.toml and the environment."""

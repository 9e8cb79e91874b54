"""Jobs: planning, running, storing and resuming them; their outputs and results."""

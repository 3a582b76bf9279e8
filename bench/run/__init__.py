"""Running cells: the runner, one worker process per cell, the measuring modes, telemetry."""

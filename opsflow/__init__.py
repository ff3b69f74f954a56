"""opsflow: plugin-based ops automation with full revert on failure."""

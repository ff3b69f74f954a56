"""Flow patterns: linear, unordered and graph flows, which nest freely."""

"""API dialects: thin front doors (Epusdt, Epay …) onto the one orders engine."""

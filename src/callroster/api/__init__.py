"""HTTP API: routes translate requests to repository calls and domain errors to statuses."""

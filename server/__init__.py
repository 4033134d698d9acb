"""HTTP API, CLI and answering services of articlechat."""

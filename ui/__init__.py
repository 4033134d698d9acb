"""Static files of the articlechat web UI, served by the FastAPI app."""

"""Ingestion side of articlechat: parsing articles into sections, chunking, embedding, the Chroma store."""

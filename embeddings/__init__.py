"""The ingestion pipeline: catalog files -> canonical Products -> text -> vectors -> VectorIndex."""

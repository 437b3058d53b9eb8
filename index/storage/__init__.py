"""An index version on disk: versions and the atomic switch, FAISS, bm25s, FAISS or Milvus."""

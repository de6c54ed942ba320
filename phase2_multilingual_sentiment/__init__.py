"""Phase 2: multilingual tweet sentiment with XLM-R, mBERT and DistilBERT-multilingual."""

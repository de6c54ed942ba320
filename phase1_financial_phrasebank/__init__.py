"""Phase 1: 3-class financial sentiment on Financial PhraseBank with DistilBERT and two
small transformers trained from scratch (MiniTransformer, TinyTransformer)."""

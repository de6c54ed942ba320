"""Phase 5: financial sentiment from text and chart images: FinBERT text features and
ResNet image features, fused (concat, gated, cross-attention) or alone (the ablations)."""

"""Phase 4: medical abstracts classified by condition with RoBERTa, explained by attention
rollout, Integrated Gradients and conservative LRP, with faithfulness scores and an HTML report."""

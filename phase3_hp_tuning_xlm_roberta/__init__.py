"""Phase 3: systematic hyperparameter studies of XLM-R on the phase 2 multilingual data."""

"""Phase 1's FiQA 2018 Task 1 experiments: the data (sentences with their targets, aspects and
sentiment scores), and the target extraction (a seq2seq model that writes the target, or an
extractive span tagger) with its config, models, evaluation and train script. FiQA's
classification tasks (sentiment, score, aspects) run through phase 1's own train.py with
`--dataset fiqa_2018` (the `fiqa_*` presets)."""

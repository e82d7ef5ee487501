"""How editseq's default model is made: LintSeq data, fine-tuning, GGUF export, evaluation."""

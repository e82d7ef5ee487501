"""editseq: an on-device edit-sequence (LintSeq) pair programmer for Python, served over LSP."""

__version__ = "0.1.0"

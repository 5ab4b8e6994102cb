"""Model families: seq2seq, causal and classifier, each a small subclass of `ModelFamily`."""

"""The data plane: what runs inside a training actor (families, tokenizer and precision policy,
training, prediction, metrics). Nothing here talks to Ray, except `distributed`, which runs a
data-parallel candidate's training through Ray Train from inside its actor."""

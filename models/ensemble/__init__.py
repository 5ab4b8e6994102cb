"""Ensembles over trained candidates: stacking with cross-fitted meta-learners, probability
averaging, and minimum-Bayes-risk selection. Pure computation on predictions; no Ray."""

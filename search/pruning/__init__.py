"""The pruning rules: when a trial stops early.

- :mod:`search.pruning.rungs`: successive-halving rungs on the epochs a trial has trained, judged per latent size.
- :mod:`search.pruning.latent_pruner`: the Pareto-aware pruner (``pareto_halving``): a trial stops when its curve,
  at its latent size, cannot reach the front.
- :mod:`search.pruning.curve_pruner`: the curve rule shared by the pruners (how far a trial's best error stands from
  the others' at the same epoch).
- :mod:`search.pruning.policy`: how a trial asks to stop after each epoch, chosen once per study from its pruner.

Optuna's own pruners (median, Hyperband, ...) are made in :mod:`search.factories` from a space's ``study.pruner``.
"""

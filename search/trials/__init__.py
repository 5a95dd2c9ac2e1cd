"""A trial's record and what reads it.

- :mod:`search.trials.objective`: the objective, the one writer of a trial's record (train, measure, upload).
- :mod:`search.trials.record`: the typed :class:`~search.trials.record.TrialRecord` and its one reader.
- :mod:`search.trials.objectives`: the study's objectives (validation error, latent size, ...) and their directions.
- :mod:`search.trials.front`: the Pareto front and its hypervolume.
- :mod:`search.trials.best`: the best trial by the study's objectives.
- :mod:`search.trials.table`: the trials as a ``pandas.DataFrame``.
- :mod:`search.trials.trial_model`: a trial's trained network and its data, loaded back.
- :mod:`search.trials.artifact_names`: readable names for a trial's artifacts.
- :mod:`search.trials.start`: start a space from a finished study's trial.
"""

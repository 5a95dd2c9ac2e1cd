"""How spaces become trials: space parsing, sampling, the objective, the study runner and its CLI."""

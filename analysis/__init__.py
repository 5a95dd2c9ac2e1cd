"""Questions asked of finished studies, one module per question (``python -m analysis.<question>``).

- :mod:`analysis.latent_vs_error`: is the error correlated with the latent size? (fit, ρ, Pareto front)
- :mod:`analysis.colorize`: the best network as a gray → colour model, against "gray stays gray"
"""

"""Joins theory and simulation: fits laws to runs, predicts held-out runs, compares theory with
simulation, measures multipliers, runs sweeps and stores their results.
"""

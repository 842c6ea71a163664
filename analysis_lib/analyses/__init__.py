"""The paper's chapters: cohort, kinetics, survival and toxicity, each computing what its notebook shows."""

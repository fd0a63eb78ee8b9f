"""Network meta-analysis on a batch multivariate random-effects core (metafor ``rma.mv`` parity).

* :mod:`trialsynth.nma.mv` – the kernel: y ~ N(Xβ, S + Σθ_c G_c) by FE, DL, ML, REML for many
  analyses at once (networks, node-splitting models, multilevel meta-analyses);
* :mod:`trialsynth.nma.data` – arm- or contrast-level tables to study contrasts and covariances;
* :mod:`trialsynth.nma.model` – the consistency model, league table;
* :mod:`trialsynth.nma.inconsistency` – design-by-treatment test, node splitting;
* :mod:`trialsynth.nma.ranking` – P-scores.
"""

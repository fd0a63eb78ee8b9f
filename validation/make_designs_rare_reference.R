#!/usr/bin/env Rscript
# Reference for tests/test_designs_rare.py: sparse dichotomous data from cluster-randomised
# trials, pooled by R metafor on the effective counts (Cochrane Handbook v6.4 §23.1.4: events and
# participants divided by the design effect 1 + (M - 1) * ICC, unrounded) with the methods of
# Handbook §10.4.4.1 (Mantel-Haenszel OR without continuity corrections; Peto's OR).
# The trial numbers are CONSTRUCTED for the test (not real trials).
# Run from the repository root:  Rscript validation/make_designs_rare_reference.R
suppressMessages({library(metafor); library(jsonlite)})
trials <- data.frame(
  study = c("Clust A", "Para B", "Clust C"),
  events_t = c(2, 0, 1), n_t = c(400, 150, 300),
  events_c = c(5, 3, 4), n_c = c(400, 150, 310),
  cluster_size = c(20, NA, 10), icc = c(0.05, NA, 0.1))
deff <- ifelse(is.na(trials$cluster_size), 1, 1 + (trials$cluster_size - 1) * trials$icc)
ai <- trials$events_t / deff; n1i <- trials$n_t / deff
ci <- trials$events_c / deff; n2i <- trials$n_c / deff
fit <- function(r, name) list(method = name, estimate = unname(coef(r)), se = r$se,
                              ci_low = r$ci.lb, ci_high = r$ci.ub, pvalue = r$pval)
mh <- suppressWarnings(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, measure = "OR"))
peto <- suppressWarnings(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
out <- list(generator = "validation/make_designs_rare_reference.R", r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            design_effect = deff, ai = ai, n1i = n1i, ci = ci, n2i = n2i,
            fits = list(fit(mh, "MH"), fit(peto, "PETO")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/designs_rare_reference.json")

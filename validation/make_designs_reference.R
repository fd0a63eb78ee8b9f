#!/usr/bin/env Rscript
# Reference for tests/test_designs_pooled.py: R metafor pools the per-study effects (yi) and
# variances (vi) that a statistician computes by hand, with the Cochrane Handbook v6.4
# formulas, for one analysis holding a crossover, a cluster-randomised, a three-arm and a
# parallel trial (the numbers below are CONSTRUCTED for the test, not real trial data):
#   crossover (paired, §23.2.7.1): MD = 42 - 50, vi = (20^2 + 22^2 - 2*0.6*20*22)/24
#   cluster (§23.1.4): design effect 1 + (11 - 1)*0.05 = 1.5; n 120 -> 80, 130 -> 86.667
#   three-arm (§23.3.4): shared placebo (n = 40) split evenly, 20 per comparison
#   parallel: MD and vi = sd_t^2/n_t + sd_c^2/n_c
# Run from the repository root:  Rscript validation/make_designs_reference.R
suppressMessages({library(metafor); library(jsonlite)})
deff <- 1 + (11 - 1) * 0.05
yi <- c(42 - 50, 45 - 51, 40 - 49, 44 - 49, 43 - 50)
vi <- c((20^2 + 22^2 - 2 * 0.6 * 20 * 22) / 24,
        21^2 / (120 / deff) + 23^2 / (130 / deff),
        18^2 / 30 + 20^2 / (40 / 2),
        19^2 / 32 + 20^2 / (40 / 2),
        19^2 / 60 + 21^2 / 58)
fit <- function(method) {
  r <- rma(yi, vi, method = method)
  list(method = method, estimate = unname(coef(r)), se = r$se, ci_low = r$ci.lb,
       ci_high = r$ci.ub, tau2 = r$tau2, q = r$QE, i2 = r$I2, pvalue = r$pval)
}
out <- list(generator = "validation/make_designs_reference.R", r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            yi = yi, vi = vi, fits = list(fit("EE"), fit("DL"), fit("REML")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/designs_reference.json")

#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_diff_reference.R
##
## Produces tests/reference/diff_reference.json: analysis 1.4 of the flagship
## review (CD015373.pub2, "Pain intensity (continuous), short-term follow-up",
## intravenous ketamine vs placebo; real rows of
## examples/nmda-chronic-pain/outcome_data.csv) pooled by R metafor as RevMan
## pools it (MD, DerSimonian-Laird, Wald CI), before and after adding the
## SIMULATED trial of tests/data/simulated_trial_nmda_1.4.csv (made up, not
## real data). tests/test_diff.py compares the before/after numbers that
## `trialsynth diff` reports with these.
##
##     Rscript validation/make_diff_reference.R
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
real <- read.csv(file.path(REPO_ROOT, "examples", "nmda-chronic-pain", "outcome_data.csv"),
                 stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
sim <- read.csv(file.path(REPO_ROOT, "tests", "data", "simulated_trial_nmda_1.4.csv"),
                stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
cols <- c("study", "mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")
before <- real[real$analysis == "1.4", cols]
after <- rbind(before, sim[sim$analysis == "1.4", cols])

pool <- function(d) {
  es <- escalc(measure = "MD", m1i = mean_t, sd1i = sd_t, n1i = n_t,
               m2i = mean_c, sd2i = sd_c, n2i = n_c, data = d)
  fit <- rma(yi, vi, data = es, method = "DL")
  list(k = fit$k, participants = sum(d$n_t + d$n_c), estimate = as.numeric(fit$b),
       ci_low = fit$ci.lb, ci_high = fit$ci.ub, pvalue = fit$pval, tau2 = fit$tau2,
       i2 = fit$I2, studies = sort(d$study))
}

out <- list(
  description = paste("Analysis 1.4 of CD015373.pub2 (real rows) pooled by metafor rma(method='DL')",
                      "on escalc(measure='MD'), before and after adding one SIMULATED trial"),
  analysis = "1.4", simulated_trial = "SIMULATED trial 2026",
  before = pool(before), after = pool(after),
  r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(REPO_ROOT, "tests", "reference", "diff_reference.json"))

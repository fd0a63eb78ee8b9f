#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_flagship_reference.R
##
## Produces tests/reference/flagship_metafor.json: R metafor's DerSimonian-Laird random-effects
## results for analyses of the flagship review (Ferraro et al. 2025, CD015373.pub2), computed
## from the real per-study data of its RevMan Web data-rows export
## (../shared/data/pairwise70/CD015373_pub2_data.csv, see PROVENANCE.md). The review pooled them
## with DerSimonian-Laird; tests/test_runner.py checks `trialsynth run` on the review folder
## examples/nmda-chronic-pain against these numbers.
##
## RevMan's I² is (Q - df)/Q (Deeks & Higgins 2010, RevMan 5 statistical algorithms); it is
## computed here from metafor's Q for the same comparison.
##
##     Rscript validation/make_flagship_reference.R
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
DATA <- normalizePath(file.path(SHARED, "pairwise70", "CD015373_pub2_data.csv"), mustWork = TRUE)
OUT_FILE <- reference_file("flagship_metafor.json")

rows <- read.csv(DATA, stringsAsFactors = FALSE, check.names = TRUE)
# analyses without subgroups, with 3 or more studies; RR ones whose tables have no zero cell
ANALYSES <- list(c("1.1", "MD"), c("1.4", "MD"), c("7.2", "MD"), c("7.10", "RR"),
                 c("7.15", "RR"), c("7.16", "RR"))

one <- function(id, measure) {
  parts <- as.integer(strsplit(id, ".", fixed = TRUE)[[1]])
  d <- rows[rows$Analysis.group == parts[1] & rows$Analysis.number == parts[2], ]
  if (measure == "MD") {
    d <- d[complete.cases(d[, c("Experimental.mean", "Experimental.SD", "Experimental.N",
                                "Control.mean", "Control.SD", "Control.N")]), ]
    es <- escalc(measure = "MD", m1i = Experimental.mean, sd1i = Experimental.SD,
                 n1i = Experimental.N, m2i = Control.mean, sd2i = Control.SD, n2i = Control.N,
                 data = d)
  } else {
    d <- d[complete.cases(d[, c("Experimental.cases", "Experimental.N", "Control.cases",
                                "Control.N")]), ]
    stopifnot(all(d$Experimental.cases > 0), all(d$Control.cases > 0))
    es <- escalc(measure = "RR", ai = Experimental.cases, n1i = Experimental.N,
                 ci = Control.cases, n2i = Control.N, data = d)
  }
  fit <- rma(yi, vi, data = es, method = "DL")
  list(id = id, measure = measure, studies = d$Study, k = fit$k,
       call = sprintf("rma(yi, vi, method = 'DL') on escalc(measure = '%s', ...) of analysis %s",
                      measure, id),
       estimate = as.numeric(fit$b), se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
       pvalue = fit$pval, tau2 = fit$tau2, q = fit$QE, q_df = fit$k - 1,
       i2_revman = max(0, 100 * (fit$QE - (fit$k - 1)) / fit$QE),
       weights = as.numeric(weights(fit)),
       participants = sum(d$Experimental.N + d$Control.N))
}

out <- list(
  generated_by = "validation/make_flagship_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  source = "../shared/data/pairwise70/CD015373_pub2_data.csv (RevMan Web data-rows export of CD015373.pub2)",
  analyses = lapply(ANALYSES, function(a) one(a[1], a[2])))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), OUT_FILE)
cat("wrote", OUT_FILE, "\n")

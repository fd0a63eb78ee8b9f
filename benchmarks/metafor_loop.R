#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## benchmarks/metafor_loop.R -- the metafor side of benchmarks/bench_core.py.
##
## Not meant to be run by hand: bench_core.py writes the SIMULATED data set
## (columns analysis, yi, sei) to a temporary CSV and calls
##     Rscript metafor_loop.R <data.csv> <results.csv> <single_id> <single_reps>
##
## Only the loops are timed, with proc.time() (elapsed = wall clock), so R's
## start-up, loading metafor, reading the CSV and splitting it by analysis are
## not counted. Timings are printed as lines "TIMING <name> <seconds> <calls>";
## the per-analysis estimates, SEs and tau^2 go to <results.csv> with 17
## significant digits (NA plus metafor's error message where rma() stopped
## with an error), after the timed loops.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 4L)
data_csv    <- args[1]
results_csv <- args[2]
single_id   <- as.integer(args[3])
single_reps <- as.integer(args[4])

## REML: converge to |delta tau^2| < 1e-12 (metafor's default threshold is 1e-5)
## so that both programs report the converged solution, not two stopping points.
CTRL <- list(threshold = 1e-12, maxiter = 1000)

d   <- read.csv(data_csv)
ys  <- split(d$yi, d$analysis)   # factor levels of an integer sort numerically: 0, 1, 2, ...
ses <- split(d$sei, d$analysis)
ids <- as.integer(names(ys))
n   <- length(ys)

elapsed <- function() proc.time()[["elapsed"]]
timing  <- function(name, secs, calls) cat(sprintf("TIMING %s %.6f %d\n", name, secs, calls))

## (1) one meta-analysis, REML, repeated single_reps times
y1 <- ys[[as.character(single_id)]]
s1 <- ses[[as.character(single_id)]]
t0 <- elapsed()
for (r in seq_len(single_reps)) fit1 <- rma(yi = y1, sei = s1, method = "REML", control = CTRL)
timing("single_reml", elapsed() - t0, single_reps)
cat(sprintf("SINGLE %.17g %.17g %.17g\n", fit1$b[1], fit1$se, fit1$tau2))

## (2a) n meta-analyses, DerSimonian-Laird
est_dl <- se_dl <- tau2_dl <- rep(NA_real_, n)
err_dl <- rep("", n)
t0 <- elapsed()
for (i in seq_len(n)) {
  fit <- tryCatch(rma(yi = ys[[i]], sei = ses[[i]], method = "DL"),
                  error = function(e) conditionMessage(e))
  if (is.character(fit)) {
    err_dl[i] <- fit
  } else {
    est_dl[i] <- fit$b[1]; se_dl[i] <- fit$se; tau2_dl[i] <- fit$tau2
  }
}
timing("loop_dl", elapsed() - t0, n)

## (2b) n meta-analyses, REML with the Knapp-Hartung (HKSJ) test
est_reml <- se_reml <- tau2_reml <- rep(NA_real_, n)
err_reml <- rep("", n)
t0 <- elapsed()
for (i in seq_len(n)) {
  fit <- tryCatch(rma(yi = ys[[i]], sei = ses[[i]], method = "REML", test = "knha",
                      control = CTRL), error = function(e) conditionMessage(e))
  if (is.character(fit)) {
    err_reml[i] <- fit
  } else {
    est_reml[i] <- fit$b[1]; se_reml[i] <- fit$se; tau2_reml[i] <- fit$tau2
  }
}
timing("loop_reml_knha", elapsed() - t0, n)

g17 <- function(x) sprintf("%.17g", x)   # NA prints as "NA"
msg <- function(x) gsub("[,\r\n]+", " ", x) # error messages, kept CSV-safe
write.csv(data.frame(analysis = ids,
                     est_dl = g17(est_dl), se_dl = g17(se_dl), tau2_dl = g17(tau2_dl),
                     est_reml = g17(est_reml), se_reml = g17(se_reml),
                     tau2_reml = g17(tau2_reml), error_dl = msg(err_dl),
                     error_reml = msg(err_reml)),
          results_csv, row.names = FALSE, quote = FALSE)
cat(sprintf("VERSION %s; metafor %s\n", R.version.string, as.character(packageVersion("metafor"))))

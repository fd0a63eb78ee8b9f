#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## benchmarks/peers_metafor.R -- the metafor side of benchmarks/bench_scale.py.
##
## Not meant to be run by hand: bench_scale.py writes a subset of its SIMULATED
## data to two temporary CSVs and calls
##     Rscript peers_metafor.R <generic.csv> <tables.csv> <generic_out.csv> <mh_out.csv>
## generic.csv: analysis, yi, sei       tables.csv: analysis, ai, n1i, ci, n2i
##
## Three loops over the analyses, each timed with proc.time() (elapsed = wall
## clock); R's start-up, loading metafor, reading and splitting the data are not
## counted. Timings are printed as "TIMING <name> <seconds> <calls>".
##   dl    rma(method = "DL")
##   reml  rma(method = "REML", test = "knha") and predict() for the prediction
##         interval (trialsynth computes it for every analysis, so metafor does too)
##   mh    rma.mh(measure = "OR") with its defaults
## Results (17 significant digits, NA plus the error message where a call
## failed) are written after the timed loops.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 4L)

## REML converged to |delta tau^2| < 1e-12 (metafor's default is 1e-5) so that
## both programs report the converged solution, not two stopping points.
CTRL <- list(threshold = 1e-12, maxiter = 1000)

elapsed <- function() proc.time()[["elapsed"]]
timing  <- function(name, secs, calls) cat(sprintf("TIMING %s %.6f %d\n", name, secs, calls))
g17 <- function(x) sprintf("%.17g", x)
msg <- function(x) gsub("[,\r\n]+", " ", x)

d   <- read.csv(args[1])
ys  <- split(d$yi, d$analysis)
ses <- split(d$sei, d$analysis)
ids <- as.integer(names(ys))
n   <- length(ys)

est_dl <- se_dl <- tau2_dl <- rep(NA_real_, n); err_dl <- rep("", n)
t0 <- elapsed()
for (i in seq_len(n)) {
  fit <- tryCatch(rma(yi = ys[[i]], sei = ses[[i]], method = "DL"),
                  error = function(e) conditionMessage(e))
  if (is.character(fit)) err_dl[i] <- fit else {
    est_dl[i] <- fit$b[1]; se_dl[i] <- fit$se; tau2_dl[i] <- fit$tau2
  }
}
timing("dl", elapsed() - t0, n)

est_r <- se_r <- tau2_r <- pi_lb <- pi_ub <- rep(NA_real_, n); err_r <- rep("", n)
t0 <- elapsed()
for (i in seq_len(n)) {
  fit <- tryCatch(rma(yi = ys[[i]], sei = ses[[i]], method = "REML", test = "knha",
                      control = CTRL), error = function(e) conditionMessage(e))
  if (is.character(fit)) err_r[i] <- fit else {
    p <- predict(fit)
    est_r[i] <- fit$b[1]; se_r[i] <- fit$se; tau2_r[i] <- fit$tau2
    pi_lb[i] <- p$pi.lb; pi_ub[i] <- p$pi.ub
  }
}
timing("reml", elapsed() - t0, n)

write.csv(data.frame(analysis = ids, est_dl = g17(est_dl), se_dl = g17(se_dl),
                     tau2_dl = g17(tau2_dl), est_reml = g17(est_r), se_reml = g17(se_r),
                     tau2_reml = g17(tau2_r), pi_lb = g17(pi_lb), pi_ub = g17(pi_ub),
                     error_dl = msg(err_dl), error_reml = msg(err_r)),
          args[3], row.names = FALSE, quote = FALSE)

tb  <- read.csv(args[2])
tbs <- split(tb, tb$analysis)
m   <- length(tbs)
est_mh <- se_mh <- rep(NA_real_, m); err_mh <- rep("", m)
t0 <- elapsed()
for (i in seq_len(m)) {
  x <- tbs[[i]]
  fit <- tryCatch(rma.mh(ai = x$ai, n1i = x$n1i, ci = x$ci, n2i = x$n2i, measure = "OR"),
                  error = function(e) conditionMessage(e))
  if (is.character(fit)) err_mh[i] <- fit else {
    est_mh[i] <- fit$b[1]; se_mh[i] <- fit$se
  }
}
timing("mh", elapsed() - t0, m)
write.csv(data.frame(analysis = as.integer(names(tbs)), est_mh = g17(est_mh),
                     se_mh = g17(se_mh), error_mh = msg(err_mh)),
          args[4], row.names = FALSE, quote = FALSE)
cat(sprintf("VERSION %s; metafor %s\n", R.version.string, as.character(packageVersion("metafor"))))

#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## benchmarks/bench_e2e_metafor.R -- the metafor side of benchmarks/bench_e2e.py.
##
##     Rscript bench_e2e_metafor.R <data.csv> <results.csv> <m>
##
## <data.csv>: the SIMULATED long table (analysis, yi, se) that trialsynth batch reads.
## rma(REML) in a loop over its first <m> analyses, converged tightly (threshold 1e-12, as
## trialsynth's own), timed with proc.time() (elapsed): R's start-up, reading and splitting
## are not counted. Prints "TIMING <seconds> <calls>" and "VERSION ..."; the estimates, SEs
## and tau^2 go to <results.csv> with 17 significant digits (the error message where rma()
## stopped with one).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 3L)
m <- as.integer(args[3])
CTRL <- list(threshold = 1e-12, maxiter = 1000)

d <- read.csv(args[1], colClasses = c("character", "numeric", "numeric"))
first <- unique(d$analysis)[seq_len(m)]
d <- d[d$analysis %in% first, ]
ys <- split(d$yi, factor(d$analysis, levels = first))
ses <- split(d$se, factor(d$analysis, levels = first))

est <- se <- tau2 <- rep(NA_real_, m)
err <- rep("", m)
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(m)) {
  fit <- tryCatch(rma(yi = ys[[i]], sei = ses[[i]], method = "REML", control = CTRL),
                  error = function(e) conditionMessage(e))
  if (is.character(fit)) err[i] <- fit else {
    est[i] <- fit$b[1]; se[i] <- fit$se; tau2[i] <- fit$tau2
  }
}
cat(sprintf("TIMING %.6f %d\n", proc.time()[["elapsed"]] - t0, m))
g17 <- function(x) sprintf("%.17g", x)
write.csv(data.frame(analysis = as.integer(sub("^sim", "", first)), est = g17(est), se = g17(se),
                     tau2 = g17(tau2), error = gsub("[,\r\n]+", " ", err)),
          args[2], row.names = FALSE, quote = FALSE)
cat(sprintf("VERSION %s; metafor %s\n", R.version.string, as.character(packageVersion("metafor"))))

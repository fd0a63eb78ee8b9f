## Reference values for the Q-profile confidence interval of tau^2 where the bound lies beyond
## metafor's default search range max(100, 10 * tau2).
##
## Every number in the output is computed by R metafor itself (rma.uni + confint.rma.uni,
## type "QP", Viechtbauer 2007): once with a search range wide enough to hold every bound
## (control tau2.max = TAU2_MAX) -- the true bounds -- and once with metafor's default range, the
## output of the "metafor" search convention (bounds beyond the range are reported as the end of
## the range, with ub.sign / lb.sign ">").
##
## Data: metadat data sets as CSV in ../shared/data/metadat (dat.curtis1998, dat.normand1999,
## dat.hine1989, dat.bcg). Run from the repository root:
##     Rscript validation/make_tau2_ci_reference.R
## Output: tests/reference/tau2_ci_reference.json

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

DATA <- Sys.getenv("TRIALSYNTH_SHARED_DATA", "../shared/data")
OUT <- "tests/reference/tau2_ci_reference.json"
TAU2_MAX <- 1e12   # far beyond every bound below; the bounds found are inside it
TOL <- 1e-14       # uniroot tolerance of confint (metafor control 'tol')
THRESHOLD <- 1e-12 # convergence threshold of the iterative tau^2 estimators

read_dat <- function(name) read.csv(file.path(DATA, "metadat", paste0(name, ".csv")))

num <- function(x) if (is.null(x) || length(x) == 0 || !is.finite(x)) NULL else unname(x)

one_case <- function(id, dataset, measure, method, data, rows) {
  dat <- data[rows, , drop = FALSE]
  ctl <- list(threshold = THRESHOLD, maxiter = 10000)
  if (measure %in% c("MD", "SMD")) {
    res <- rma(measure = measure, m1i = dat$m1i, sd1i = dat$sd1i, n1i = dat$n1i,
               m2i = dat$m2i, sd2i = dat$sd2i, n2i = dat$n2i, method = method, control = ctl)
    input <- list(mean_t = dat$m1i, sd_t = dat$sd1i, n_t = dat$n1i,
                  mean_c = dat$m2i, sd_c = dat$sd2i, n_c = dat$n2i)
  } else {
    res <- rma(measure = measure, ai = dat$ai, n1i = dat$n1i, ci = dat$ci, n2i = dat$n2i,
               method = method, control = ctl)
    input <- list(events_t = dat$ai, n_t = dat$n1i, events_c = dat$ci, n_c = dat$n2i)
  }
  wide <- confint(res, type = "QP", control = list(tol = TOL, tau2.max = TAU2_MAX))
  capped <- suppressWarnings(confint(res, type = "QP", control = list(tol = TOL)))
  pick <- function(ci) list(
    tau2_ci_low = num(ci$random["tau^2", "ci.lb"]), tau2_ci_high = num(ci$random["tau^2", "ci.ub"]),
    i2_ci_low = num(ci$random["I^2(%)", "ci.lb"]), i2_ci_high = num(ci$random["I^2(%)", "ci.ub"]),
    h2_ci_low = num(ci$random["H^2", "ci.lb"]), h2_ci_high = num(ci$random["H^2", "ci.ub"]),
    lb_sign = ci$lb.sign, ub_sign = ci$ub.sign)
  list(id = id, dataset = dataset, rows = rows, measure = measure, method = method,
       data = c(list(study = as.character(rows)), input),
       tau2 = num(res$tau2), k = res$k,
       search_max_default = max(100, 10 * res$tau2),
       unbounded = c(pick(wide), list(call = sprintf(
         "confint(res, type='QP', control=list(tol=%g, tau2.max=%g))", TOL, TAU2_MAX))),
       metafor = c(pick(capped), list(call = sprintf(
         "confint(res, type='QP', control=list(tol=%g))", TOL))))
}

curtis <- read_dat("dat.curtis1998")
normand <- read_dat("dat.normand1999")
hine <- read_dat("dat.hine1989")
bcg <- read_dat("dat.bcg")
bcg2 <- data.frame(ai = bcg$tpos, n1i = bcg$tpos + bcg$tneg, ci = bcg$cpos, n2i = bcg$cpos + bcg$cneg)

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- one_case(...)
all_c <- seq_len(nrow(curtis))
for (m in c("DL", "REML", "ML", "HE", "SJ")) add(paste0("curtis1998_MD_", m), "dat.curtis1998", "MD", m, curtis, all_c)
for (m in c("DL", "REML", "HE")) add(paste0("normand1999_MD_", m), "dat.normand1999", "MD", m, normand, seq_len(nrow(normand)))
for (meas in c("OR", "RR")) for (m in c("DL", "REML"))
  add(paste0("hine1989k2_", meas, "_", m), "dat.hine1989", meas, m, hine, 1:2)
for (m in c("DL", "REML")) add(paste0("bcg_OR_", m), "dat.bcg", "OR", m, bcg2, seq_len(nrow(bcg2)))
for (s in c(1, 3, 5)) add(sprintf("bcg_k2_%d_OR_DL", s), "dat.bcg", "OR", "DL", bcg2, s:(s + 1))

doc <- list(
  generator = "validation/make_tau2_ci_reference.R",
  r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  note = paste("Q-profile CI of tau^2 (confint.rma.uni type QP). 'unbounded': tau2.max =",
               format(TAU2_MAX), "(the true bounds); 'metafor': metafor's default search",
               "range max(100, 10 tau2)."),
  cases = cases)
writeLines(toJSON(doc, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), OUT)
cat("wrote", OUT, "with", length(cases), "cases\n")

#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_tau2_hard_reference.R
##
## Produces tests/reference/tau2_hard_reference.json: the between-study
## variance tau^2 (methods REML, ML, PM, EB) and the (restricted)
## log-likelihood computed by R metafor itself (rma.uni) on
##   * real data sets from metadat (dat.bcg log RR, dat.normand1999 MD,
##     dat.hackshaw1998 log OR), which the tests also rescale by 1e-6 and
##     1e6 (tau^2 of c*y with variances c^2*v is c^2*tau^2), and
##   * SIMULATED hard cases: study variances spread over up to 20 orders of
##     magnitude, outliers, k = 2 to 11 (a seeded random search, below), plus
##     three SIMULATED cases found by such a search on which an earlier
##     trialsynth REML gave up after one Fisher-scoring step.
##
## metafor runs with threshold = 1e-12 (Fisher scoring, absolute change in
## tau^2), tol = 1e-12 (uniroot for PM) and maxiter = 1000; when it stops with
## an error the fit is repeated with stepadj = 0.5 (metafor's step-halving
## option), and the control used is recorded. metafor's ll0check may set
## tau^2 = 0 at a local maximum ("Fisher scoring algorithm may have gotten
## stuck at a local maximum"); the file records that warning, and the tests
## then require trialsynth's tau^2 to be at least as likely.
##
## Run from anywhere:   Rscript validation/make_tau2_hard_reference.R
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
OUT_FILE <- reference_file("tau2_hard_reference.json")

METHODS <- c("REML", "ML", "PM", "EB")
CONTROL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)

fit_one <- function(yi, vi, method) {
  warn <- character(0)
  attempt <- function(control) {
    withCallingHandlers(
      tryCatch(rma(yi, vi, method = method, control = control), error = function(e) NULL),
      warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  }
  control <- CONTROL
  fit <- attempt(control)
  if (is.null(fit)) {
    control <- c(CONTROL, list(stepadj = 0.5))
    fit <- attempt(control)
  }
  if (is.null(fit)) return(NULL)
  ll <- if (method %in% c("REML", "ML")) as.numeric(logLik(fit)) else NULL
  list(tau2 = fit$tau2, loglik = ll, control = control,
       local_maximum_warning = any(grepl("local maximum", warn)),
       metafor_call = sprintf("rma(yi, vi, method = \"%s\", control = list(%s))", method,
                              paste(names(control), unlist(control), sep = " = ", collapse = ", ")))
}

case <- function(id, yi, vi, source) {
  fits <- setNames(lapply(METHODS, function(m) fit_one(yi, vi, m)), METHODS)
  list(id = id, source = source, yi = yi, vi = vi, expected = fits[!vapply(fits, is.null, NA)])
}

## ---- real data (metadat) ------------------------------------------------------
bcg <- read_metadat("dat.bcg")
e_bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
norm <- read_metadat("dat.normand1999")
e_norm <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                 data = norm)
hack <- read_metadat("dat.hackshaw1998")
cases <- list(
  case("bcg-logRR", as.numeric(e_bcg$yi), as.numeric(e_bcg$vi),
       "metadat dat.bcg (Colditz et al. 1994), escalc RR"),
  case("normand1999-MD", as.numeric(e_norm$yi), as.numeric(e_norm$vi),
       "metadat dat.normand1999 (Normand 1999), escalc MD"),
  case("hackshaw1998-logOR", hack$yi, hack$vi,
       "metadat dat.hackshaw1998 (Hackshaw 1998), yi and vi as given"))

## ---- SIMULATED: cases on which an earlier trialsynth REML stopped after one step --
cases <- c(cases, list(
  case("simulated-overflow-1",
       c(0.309802628, 0.0122375771, -8.29433520e-05, -265.052872, -0.0460793554,
         3.16119312e-05, -2.94977264e-05),
       c(2.74204601e+09, 5.68791170e+06, 1.56926969e-10, 0.289586401, 60.7400967,
         5.75405322e+07, 1.13555901),
       "SIMULATED (random search): variances from 1.6e-10 to 2.7e9"),
  case("simulated-overflow-2",
       c(2.78512711e-04, 2.11061221e-03, 0.597384162, 0.0251908783, -4459.48230,
         -2.83963790e-04),
       c(1.30822687e+08, 1.19654179e+08, 8.96759506e-09, 3.37381875e-03, 0.134227552,
         6.81880199e+07),
       "SIMULATED (random search): variances from 9e-9 to 1.3e8, one outlier"),
  case("simulated-spread-eb",
       c(0.493440133, 0.0240840078, -0.0280233474, 40926.9436, -6.91387978e-04),
       c(0.215673140, 2.91296760e-05, 5.36809866e-05, 8.77234665e+08, 1.71686032e+09),
       "SIMULATED (random search): two variances of 1e9 beside ones of 3e-5")))

## ---- SIMULATED: a seeded random search over hard shapes -----------------------------
set.seed(20150315)
for (i in seq_len(60)) {
  k <- sample(2:11, 1)
  shape <- (i - 1) %% 4
  vi <- switch(shape + 1,
               10^runif(k, -4, 2),                      # variances over six orders
               10^runif(k, -6, 0),
               c(10^runif(1, -5, -3), runif(k - 1, 0.5, 2)),  # one very precise study
               10^runif(k, -10, 10))                    # over twenty orders
  tau2 <- 10^runif(1, -3, 2)
  yi <- rnorm(k, 0, sqrt(vi + tau2))
  if (runif(1) < 0.3) { j <- sample.int(k, 1); yi[j] <- yi[j] + rnorm(1, 0, 10) }  # an outlier
  cases[[length(cases) + 1]] <- case(sprintf("simulated-%02d", i), yi, vi,
                                     sprintf("SIMULATED (set.seed(20150315), draw %d, shape %d)",
                                             i, shape))
}

out <- list(generated_by = "validation/make_tau2_hard_reference.R",
            r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            control = CONTROL, cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), OUT_FILE)
cat("wrote", OUT_FILE, "with", length(cases), "cases\n")

#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_control_reference.R
##
## Produces tests/reference/control_metafor.json: what R metafor itself returns when the
## convergence control of rma.uni / confint.rma.uni is changed (control = list(stepadj,
## maxiter, tau2.max, tol, threshold)), on metadat data sets. tests/test_control.py compares
## trialsynth's Control (trialsynth.pooling.control) with it.
##
##     Rscript validation/make_control_reference.R
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
OUT_FILE <- reference_file("control_metafor.json")

bcg <- read_metadat("dat.bcg")
bcg_es <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
normand <- read_metadat("dat.normand1999")
normand_es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                     n2i = n2i, data = normand)
data_sets <- list(
  bcg = list(data = data.frame(yi = as.numeric(bcg_es$yi), vi = as.numeric(bcg_es$vi)),
             source = "metadat dat.bcg, escalc(measure = 'RR')"),
  normand = list(data = data.frame(yi = as.numeric(normand_es$yi), vi = as.numeric(normand_es$vi)),
                 source = "metadat dat.normand1999, escalc(measure = 'MD')"))

TIGHT <- 1e-12  # metafor's own convergence tightened so that its answer is the exact root
cases <- list()
for (name in names(data_sets)) {
  d <- data_sets[[name]]$data
  for (method in c("REML", "ML", "EB")) {
    for (stepadj in c(0.5, 0.25)) {
      fit <- rma(yi, vi, data = d, method = method,
                 control = list(stepadj = stepadj, threshold = TIGHT, maxiter = 10000))
      cases[[length(cases) + 1L]] <- list(
        id = sprintf("%s_%s_stepadj%g", name, method, stepadj), data_set = name,
        method = method, control = list(stepadj = stepadj), call = sprintf(
          "rma(yi, vi, method = '%s', control = list(stepadj = %g, threshold = 1e-12))",
          method, stepadj),
        tau2 = fit$tau2, estimate = as.numeric(fit$b), se = fit$se)
    }
  }
  fit <- rma(yi, vi, data = d, method = "REML", control = list(threshold = TIGHT))
  for (tau2_max in c(fit$tau2 * 1.5, fit$tau2 * 0.5)) {
    ci <- confint(fit, control = list(tau2.max = tau2_max, tol = TIGHT))
    cases[[length(cases) + 1L]] <- list(
      id = sprintf("%s_REML_confint_tau2max_%.4g", name, tau2_max), data_set = name,
      method = "REML", control = list(tau2_max = tau2_max), search = "metafor",
      call = sprintf("confint(rma(yi, vi, method = 'REML'), control = list(tau2.max = %.17g, tol = 1e-12))",
                     tau2_max),
      tau2 = fit$tau2, tau2_ci_low = ci$random["tau^2", "ci.lb"],
      tau2_ci_high = ci$random["tau^2", "ci.ub"], lb_sign = ci$lb.sign, ub_sign = ci$ub.sign)
  }
  failed <- tryCatch({rma(yi, vi, data = d, method = "REML", control = list(maxiter = 1)); ""},
                     error = function(e) conditionMessage(e))
  cases[[length(cases) + 1L]] <- list(
    id = sprintf("%s_REML_maxiter1", name), data_set = name, method = "REML",
    control = list(maxiter = 1), call = "rma(yi, vi, method = 'REML', control = list(maxiter = 1))",
    error = failed)
}

out <- list(
  generated_by = "validation/make_control_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  data = lapply(data_sets, function(s) list(yi = s$data$yi, vi = s$data$vi, source = s$source)),
  cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), OUT_FILE)
cat("wrote", OUT_FILE, "with", length(cases), "cases\n")

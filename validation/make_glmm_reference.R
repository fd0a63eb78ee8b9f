#!/usr/bin/env Rscript
# Reference values for trialsynth.designs.glmm (binomial-normal model for sparse 2x2 tables):
# metafor rma.glmm(measure = "OR", model = "CM.AL") -- the approximate conditional
# (binomial-normal) model of Stijnen, Hamza & Ozdemir 2010 -- fitted by lme4::glmer with
# nAGQ = 7 (metafor's default) and a tight optimiser tolerance, so that the reference is the
# maximum of the same 7-point adaptive Gauss-Hermite likelihood to ~1e-8.
# Real data sets from metadat (shared/data/metadat): dat.nielweise2007 (Stijnen 2010's own
# example, p. 3052 Table III), dat.egger2001, dat.li2007 (magnesium), dat.hart1999 (counts of
# the two arms), dat.bcg.
# Run from the repository root:  Rscript validation/make_glmm_reference.R
suppressMessages({library(metafor); library(jsonlite)})
shared <- Sys.getenv("TRIALSYNTH_SHARED_DATA", "../shared/data")
read <- function(name) read.csv(file.path(shared, "metadat", paste0(name, ".csv")))
ctrl <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
sets <- list(
  nielweise2007 = with(read("dat.nielweise2007"), data.frame(study = study, ai, n1i, ci, n2i)),
  egger2001 = with(read("dat.egger2001"), data.frame(study = study, ai, n1i, ci, n2i)),
  li2007 = with(read("dat.li2007"), data.frame(study = study, ai, n1i, ci, n2i)),
  hart1999 = with(read("dat.hart1999"), data.frame(study = study, ai = x1i, n1i, ci = x2i, n2i)),
  bcg = with(read("dat.bcg"), data.frame(study = author, ai = tpos, n1i = tpos + tneg,
                                            ci = cpos, n2i = cpos + cneg))
)
cases <- lapply(names(sets), function(nm) {
  d <- sets[[nm]]
  res <- suppressWarnings(rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i,
                                   data = d, model = "CM.AL", nAGQ = 7, control = ctrl))
  list(name = nm, studies = d, k = res$k, estimate = unname(coef(res)), se = res$se,
       tau2 = res$tau2, ci_low = res$ci.lb, ci_high = res$ci.ub, z = res$zval, pvalue = res$pval)
})
out <- list(generator = "validation/make_glmm_reference.R",
            r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            lme4_version = as.character(packageVersion("lme4")),
            model = "rma.glmm(measure='OR', model='CM.AL', nAGQ=7), lme4 bobyqa rhoend 1e-12",
            cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/glmm_reference.json")

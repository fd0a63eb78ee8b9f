#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_beyond_reference.R
##
## Produces tests/reference/beyond_reference.json: sensitivity analyses,
## trim-and-fill and meta-regression computed by R metafor itself on real data
## (metadat CSVs and the flagship Cochrane review CD015373). trialsynth's
## src/trialsynth/assess/sensitivity/, src/trialsynth/assess/bias/trimfill.py and
## src/trialsynth/metareg/ are compared against these numbers
## (tests/test_sensitivity.py, tests/test_trimfill.py, tests/test_metareg.py;
## 1e-6 relative). Nothing here comes from trialsynth.
##
## Run from anywhere:  Rscript validation/make_beyond_reference.R
## Data: <repo>/../shared/data/metadat/*.csv and
##       <repo>/../shared/data/pairwise70/CD015373_pub2_data.csv
##
## metafor calls (defaults unless stated):
##   leave1out(res), influence(res)$inf, cumul(res, order = year)
##   trimfill(res, estimator = "L0" | "R0", control = CTL)   (side chosen by
##       metafor: slope of rma(yi, vi, mods = sqrt(vi), method = res$method))
##   rma(yi, vi, mods = ~ ..., method = ..., test = ..., control = CTL)
## CTL = list(threshold = 1e-15, maxiter = 10000): Fisher scoring (ML/REML) is
## run to full precision (metafor's default threshold 1e-5 would only give
## about 1e-5 agreement); if metafor then reports non-convergence the fit is
## repeated with 1e-12, then 1e-10 (recorded in "threshold"); likewise when R^2
## is NA because metafor's intercept-only refit (same control) did not converge.
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
OUT_FILE <- reference_file("beyond_reference.json")
md <- read_metadat

fit_rma <- function(args) {
  for (th in c(1e-15, 1e-12, 1e-10)) {
    a <- args
    a$control <- list(threshold = th, maxiter = 10000)
    res <- try(do.call(rma, a), silent = TRUE)
    ## R^2 needs the intercept-only fit, which metafor runs with the same control and
    ## reports as NA when that fit fails to converge: then retry with the next threshold
    if (!inherits(res, "try-error") && !(isFALSE(res$int.only) && !is.null(res$R2) &&
                                         is.na(res$R2))) {
      res$ref_threshold <- th
      return(res)
    }
  }
  stop("rma did not converge: ", conditionMessage(attr(res, "condition")))
}

num <- function(x) unname(as.numeric(x))

## ---- data sets ---------------------------------------------------------------
DATA <- list()
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = md("dat.bcg"))
DATA$bcg_RR <- list(citation = "dat.bcg (Colditz et al. 1994, JAMA 271:698)", measure = "RR",
                    study = paste(bcg$author, bcg$year), yi = num(bcg$yi), vi = num(bcg$vi),
                    year = bcg$year, mods = list(ablat = bcg$ablat, year = bcg$year,
                                                 alloc = bcg$alloc))
hk <- md("dat.hackshaw1998")
DATA$hackshaw1998 <- list(citation = "dat.hackshaw1998 (Hackshaw et al. 1997, BMJ 315:980)",
                          measure = "GENERIC", study = paste(hk$author, hk$year),
                          yi = hk$yi, vi = hk$vi, year = hk$year,
                          mods = list(design = hk$design, year = hk$year))
nm <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
             n2i = n2i, data = md("dat.normand1999"))
DATA$normand1999_MD <- list(citation = "dat.normand1999 (Normand 1999, Stat Med 18:321)",
                            measure = "MD", study = nm$source, yi = num(nm$yi), vi = num(nm$vi),
                            year = NULL, mods = NULL)
ml <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = md("dat.molloy2014"))
DATA$molloy2014_ZCOR <- list(citation = "dat.molloy2014 (Molloy et al. 2014, Ann Behav Med 47:92)",
                             measure = "GENERIC", study = paste(ml$authors, ml$year),
                             yi = num(ml$yi), vi = num(ml$vi), year = ml$year,
                             mods = list(meanage = ml$meanage, quality = ml$quality,
                                         controls = ml$controls))
eg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = md("dat.egger2001"))
DATA$egger2001_OR <- list(citation = "dat.egger2001 (Egger et al. 2001, BMJ Books, ch. 11)",
                          measure = "OR", study = eg$study, yi = num(eg$yi), vi = num(eg$vi),
                          year = eg$year, mods = NULL)
cu <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
             n2i = n2i, data = md("dat.curtis1998"))
DATA$curtis1998_ROM <- list(citation = "dat.curtis1998 (Curtis & Wang 1998, Oecologia 113:299)",
                            measure = "GENERIC", study = paste("obs", cu$id),
                            yi = num(cu$yi), vi = num(cu$vi), year = NULL,
                            mods = list(fungrp = cu$fungrp, time = cu$time, method = cu$method))
## the flagship review: ketamine for chronic pain (CD015373), analysis 7.2 (k = 6, MD)
fl <- read.csv(file.path(SHARED, "pairwise70", "CD015373_pub2_data.csv"), stringsAsFactors = FALSE,
               encoding = "UTF-8")
sub_of <- function(num_) fl[fl$Analysis.group == 7 & fl$Analysis.number == num_, ]
f2 <- sub_of(2)
f2 <- escalc(measure = "MD", m1i = Experimental.mean, sd1i = Experimental.SD,
             n1i = Experimental.N, m2i = Control.mean, sd2i = Control.SD, n2i = Control.N,
             data = f2)
cond <- sub_of(3)$Subgroup[match(f2$Study, sub_of(3)$Study)]
dur <- sub_of(4)$Subgroup[match(f2$Study, sub_of(4)$Study)]
dose <- sub_of(5)$Subgroup[match(f2$Study, sub_of(5)$Study)]
DATA$flagship_7_2_MD <- list(
  citation = "Cochrane CD015373.pub2 analysis 7.2: pain intensity, short-term (ketamine vs placebo)",
  measure = "MD", study = f2$Study, yi = num(f2$yi), vi = num(f2$vi),
  year = as.integer(f2$Study.year),
  mods = list(condition = cond, duration = dur, dose = dose))

CASES <- list()
add <- function(case) CASES[[length(CASES) + 1L]] <<- case
mname <- function(m) if (m == "EE") "IV" else m

## ---- leave1out / influence / cumul -------------------------------------------
SENS <- list(
  list("bcg_RR", "REML", "z"), list("bcg_RR", "REML", "knha"), list("bcg_RR", "DL", "z"),
  list("bcg_RR", "EE", "z"), list("bcg_RR", "ML", "adhoc"),
  list("hackshaw1998", "REML", "z"), list("hackshaw1998", "DL", "knha"),
  list("normand1999_MD", "REML", "knha"), list("normand1999_MD", "EE", "z"),
  list("molloy2014_ZCOR", "REML", "z"), list("egger2001_OR", "DL", "z"),
  list("flagship_7_2_MD", "REML", "knha"), list("flagship_7_2_MD", "DL", "z"),
  list("flagship_7_2_MD", "EE", "z"))
for (s in SENS) {
  d <- DATA[[s[[1]]]]
  res <- fit_rma(list(yi = d$yi, vi = d$vi, method = s[[2]], test = s[[3]]))
  l1 <- leave1out(res)
  inf <- influence(res)
  case <- list(id = paste("sens", s[[1]], s[[2]], s[[3]], sep = "_"), kind = "sensitivity",
               dataset = s[[1]], citation = d$citation, measure = d$measure,
               method = mname(s[[2]]), test = s[[3]], threshold = res$ref_threshold,
               metafor_call = sprintf("res <- rma(yi, vi, method='%s', test='%s', control=CTL); leave1out(res); influence(res); cumul(res, order=year)", s[[2]], s[[3]]),
               data = list(study = d$study, yi = d$yi, vi = d$vi, year = d$year),
               full = list(estimate = num(res$beta), se = num(res$se), tau2 = num(res$tau2)),
               leave1out = list(estimate = num(l1$estimate), se = num(l1$se),
                                pvalue = num(l1$pval), ci_low = num(l1$ci.lb),
                                ci_high = num(l1$ci.ub), q = num(l1$Q), q_pvalue = num(l1$Qp),
                                tau2 = if (is.null(l1$tau2)) NULL else num(l1$tau2),
                                i2 = num(l1$I2), h2 = num(l1$H2)),
               influence = list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
                                cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
                                tau2_del = num(inf$inf$tau2.del), qe_del = num(inf$inf$QE.del),
                                hat = num(inf$inf$hat), weight = num(inf$inf$weight),
                                dfbetas = num(inf$dfbs$intrcpt),
                                influential = as.logical(inf$is.infl)))
  if (!is.null(d$year)) {
    cu_ <- cumul(res, order = d$year)
    case$cumulative <- list(order = match(cu_$slab, res$slab) - 1L,
                            estimate = num(cu_$estimate), se = num(cu_$se),
                            pvalue = num(cu_$pvals), ci_low = num(cu_$ci.lb),
                            ci_high = num(cu_$ci.ub), q = num(cu_$Q), q_pvalue = num(cu_$Qp),
                            tau2 = if (is.null(cu_$tau2)) NULL else num(cu_$tau2),
                            i2 = num(cu_$I2), h2 = num(cu_$H2))
  }
  add(case)
}

## ---- trim-and-fill -------------------------------------------------------------
CTL <- list(threshold = 1e-15, maxiter = 10000)
TF <- list(
  list("hackshaw1998", c("EE", "DL", "REML"), "z"), list("bcg_RR", c("EE", "DL", "REML"), "z"),
  list("egger2001_OR", c("EE", "DL", "REML"), "z"), list("molloy2014_ZCOR", c("EE", "DL", "REML"), "z"),
  list("curtis1998_ROM", c("EE", "DL", "REML"), "z"), list("normand1999_MD", c("EE", "DL"), "z"),
  list("bcg_RR", c("REML"), "knha"), list("hackshaw1998", c("REML"), "knha"))
for (s in TF) for (m in s[[2]]) for (est in c("L0", "R0")) {
  d <- DATA[[s[[1]]]]
  res <- fit_rma(list(yi = d$yi, vi = d$vi, method = m, test = s[[3]]))
  tf <- trimfill(res, estimator = est, control = CTL)
  add(list(id = paste("trimfill", s[[1]], m, s[[3]], est, sep = "_"), kind = "trimfill",
           dataset = s[[1]], citation = d$citation, measure = d$measure, method = mname(m),
           test = s[[3]], estimator = est,
           metafor_call = sprintf("trimfill(rma(yi, vi, method='%s', test='%s', control=CTL), estimator='%s', control=CTL)", m, s[[3]], est),
           data = list(study = d$study, yi = d$yi, vi = d$vi),
           expected = list(k0 = tf$k0, side = tf$side, se_k0 = num(tf$se.k0),
                           p_k0 = if (is.na(tf$p.k0)) NULL else num(tf$p.k0),
                           estimate = num(tf$beta), se = num(tf$se), ci_low = num(tf$ci.lb),
                           ci_high = num(tf$ci.ub), pvalue = num(tf$pval),
                           tau2 = num(tf$tau2), i2 = num(tf$I2), q = num(tf$QE),
                           filled_yi = num(tf$yi[tf$fill]), filled_vi = num(tf$vi[tf$fill]))))
}
## an explicit side
d <- DATA$hackshaw1998
res <- fit_rma(list(yi = d$yi, vi = d$vi, method = "REML"))
tf <- trimfill(res, side = "right", control = CTL)
add(list(id = "trimfill_hackshaw1998_REML_z_L0_side_right", kind = "trimfill",
         dataset = "hackshaw1998", citation = d$citation, measure = d$measure, method = "REML",
         test = "z", estimator = "L0", side = "right",
         metafor_call = "trimfill(rma(yi, vi, method='REML', control=CTL), side='right', control=CTL)",
         data = list(study = d$study, yi = d$yi, vi = d$vi),
         expected = list(k0 = tf$k0, side = tf$side, se_k0 = num(tf$se.k0), p_k0 = NULL,
                         estimate = num(tf$beta), se = num(tf$se), ci_low = num(tf$ci.lb),
                         ci_high = num(tf$ci.ub), pvalue = num(tf$pval), tau2 = num(tf$tau2),
                         i2 = num(tf$I2), q = num(tf$QE),
                         filled_yi = num(tf$yi[tf$fill]), filled_vi = num(tf$vi[tf$fill]))))

## ---- meta-regression -----------------------------------------------------------
MR <- list(
  list("bcg_RR", "~ ablat", list(), c("REML", "ML", "DL", "EE")),
  list("bcg_RR", "~ ablat + year", list(), c("REML", "ML")),
  list("bcg_RR", "~ ablat + factor(alloc)", list(alloc = "alloc"), c("REML", "ML", "DL", "EE")),
  list("hackshaw1998", "~ factor(design) + year", list(design = "design"), c("REML", "ML")),
  list("molloy2014_ZCOR", "~ meanage + quality", list(), c("REML", "ML", "DL")),
  list("molloy2014_ZCOR", "~ factor(controls)", list(controls = "controls"), c("REML")),
  list("curtis1998_ROM", "~ factor(fungrp) + time + factor(method)",
       list(fungrp = "fungrp", method = "method"), c("REML", "ML")),
  list("flagship_7_2_MD", "~ factor(condition)", list(condition = "condition"), c("REML", "ML")),
  list("flagship_7_2_MD", "~ factor(dose)", list(dose = "dose"), c("REML", "ML", "DL")))
for (s in MR) for (m in s[[4]]) for (test in c("knha", "z")) {
  d <- DATA[[s[[1]]]]
  dat <- as.data.frame(c(list(yi = d$yi, vi = d$vi), d$mods), stringsAsFactors = FALSE)
  res <- fit_rma(list(yi = quote(yi), vi = quote(vi), mods = as.formula(s[[2]]), data = dat,
                      method = m, test = test))
  vars <- all.vars(as.formula(s[[2]]))
  add(list(id = paste("metareg", s[[1]], gsub("[^a-z]+", "_", tolower(s[[2]])), m, test, sep = "_"),
           kind = "metareg", dataset = s[[1]], citation = d$citation, measure = d$measure,
           method = mname(m), test = test, formula = s[[2]], covariates = vars,
           categorical = unname(unlist(s[[3]])), threshold = res$ref_threshold,
           metafor_call = sprintf("rma(yi, vi, mods = %s, method='%s', test='%s', control=CTL)", s[[2]], m, test),
           data = c(list(study = d$study, yi = d$yi, vi = d$vi), d$mods[vars]),
           expected = list(coef_names = rownames(res$beta), estimate = num(res$beta),
                           se = num(res$se), statistic = num(res$zval), pvalue = num(res$pval),
                           ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
                           tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2),
                           r2 = if (is.null(res$R2)) NULL else num(res$R2),
                           qm = num(res$QM), qm_df = num(res$QMdf[!is.na(res$QMdf)]),
                           qm_pvalue = num(res$QMp), qe = num(res$QE),
                           qe_df = res$k - res$p, qe_pvalue = num(res$QEp), k = res$k)))
}

## ---- contour-enhanced funnel plot numbers --------------------------------------
## per-study z and two-sided p: summary(escalc(...)) (columns zi, pval); contour
## half-widths: metafor funnel(res, level = c(90, 95, 99)) draws refline +/- qnorm(1 - (1 - L)/2) * se
for (nm_ in c("hackshaw1998", "bcg_RR", "egger2001_OR", "molloy2014_ZCOR")) {
  d <- DATA[[nm_]]
  es <- summary(escalc(measure = "GEN", yi = d$yi, vi = d$vi))
  add(list(id = paste("contours", nm_, sep = "_"), kind = "contours", dataset = nm_,
           citation = d$citation, measure = d$measure,
           metafor_call = "summary(escalc(measure='GEN', yi=yi, vi=vi)); qnorm(1 - (1 - c(.90, .95, .99))/2)",
           data = list(study = d$study, yi = d$yi, vi = d$vi),
           expected = list(z = num(es$zi), pvalue = num(es$pval),
                           crit = qnorm(1 - (1 - c(0.90, 0.95, 0.99)) / 2),
                           se_max = max(sqrt(d$vi)))))
}

out <- list(
  generated_by = "validation/make_beyond_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  generated_on = format(Sys.time(), "%Y-%m-%d"),
  settings = list(control = "threshold = 1e-15 (falls back to 1e-12, 1e-10), maxiter = 10000"),
  n_cases = length(CASES),
  cases = CASES
)
dir.create(dirname(OUT_FILE), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", null = "null", pretty = TRUE),
           OUT_FILE)
message("wrote ", length(CASES), " cases to ", OUT_FILE)

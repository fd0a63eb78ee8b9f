#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_small_study_reference.R
##
## Produces tests/reference/small_study_reference.json: funnel-plot asymmetry
## tests computed by R metafor itself (regtest(), ranktest(), escalc(), rma())
## on real data sets from R's metadat package. trialsynth's
## src/trialsynth/assess/bias/small_study.py is compared against these numbers
## (tests/test_small_study.py, 1e-6 relative). Nothing here comes from trialsynth.
##
## Run from anywhere (paths are resolved from this script's location):
##     Rscript validation/make_small_study_reference.R
## Data: <repo>/../shared/data/metadat/*.csv (metadat's data/ folder as CSV).
##
## Tests and how they are obtained from metafor (metafor 3.8-1 help pages
## ?regtest and ?ranktest):
##   egger_lm   regtest(res, model="lm", predictor="sei")  -- the classical Egger
##              test (Egger et al. 1997), "Note" section of ?regtest; weighted lm
##              of yi on sei with weights 1/vi, t test on the sei coefficient
##              (which equals Egger's intercept of the radial regression).
##   egger_rma  regtest(res) (defaults model="rma", predictor="sei"): the
##              mixed-effects meta-regression version (Sterne & Egger 2005),
##              REML tau^2, z test.
##   peters_iv  regtest(res, model="lm", predictor="ninv"): metafor's 1/n
##              predictor with inverse-variance weights 1/vi (ni = n1i + n2i as
##              stored by escalc).
##   peters     Peters et al. (2006, JAMA 295:676) as published: log OR regressed
##              on 1/N with weights from the variance of the average event rate,
##              w = 1/(1/(a+c) + 1/(b+d)). metafor's regtest(model="lm") weights
##              by 1/vi, so the test is obtained by passing
##              vi = 1/(a+c) + 1/(b+d) and ni = N:
##              regtest(yi, vi = 1/(ai+ci) + 1/(bi+di), ni = n1i+n2i,
##                      model="lm", predictor="ninv").
##   harbord    Harbord, Egger & Sterne (2006, Stat Med 25:3443), the score-based
##              test: regress Z/sqrt(V) on sqrt(V) (unweighted), test the
##              intercept; Z = a - (a+c) n1/N (efficient score of the log OR at
##              OR = 1) and V = n1 n2 (a+c)(b+d) / (N^2 (N-1)) (its variance).
##              regtest() has no option for it, but Z/V and 1/V are exactly
##              Peto's log odds ratio and its variance, which metafor computes
##              as escalc(measure="PETO") (used here with add=0, to="none", so
##              that the raw counts enter as in Harbord's formula). The classical
##              Egger test on those, regtest(yi, vi, model="lm"), is then
##              Harbord's test: yi/sei = Z/sqrt(V) and 1/sei = sqrt(V). The
##              script checks this identity against lm(Z/sqrt(V) ~ sqrt(V)) and
##              against Z, V computed from the formula above (harbord_check).
##   begg       ranktest(res) (Begg & Mazumdar 1994): Kendall's tau between the
##              standardised effects (yi - theta_FE)/sqrt(vi - 1/sum(wi)) and vi,
##              cor.test(method="kendall", exact=TRUE) -- exact p-value unless
##              there are ties, then the normal approximation (recorded).
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
OUT_FILE <- reference_file("small_study_reference.json")

## REML for the meta-regression in regtest(model="rma") is fitted by Fisher
## scoring; regtest() passes the control list of the rma object it is given.
## Its stopping rule is an absolute change in tau^2 (default 1e-5), tightened
## here so that the reference is the converged solution (as in
## make_metafor_reference.R); looser fallbacks if metafor reports non-convergence.
THRESHOLDS <- c(1e-15, 1e-12, 1e-10)
CONTROL_TXT <- function(th) sprintf("control=list(threshold=%s, maxiter=10000)",
                                    format(th, scientific = TRUE))

CITE <- list(
  egger2001 = "Egger, M., Davey Smith, G., & Altman, D. G. (Eds.) (2001). Systematic reviews in health care: Meta-analysis in context (2nd ed.). London: BMJ Books. (Magnesium in acute myocardial infarction; the example of Egger's chapter on funnel plots and of metafor's ?regtest.)",
  bcg = "Colditz, G. A., Brewer, T. F., Berkey, C. S., et al. (1994). Efficacy of BCG vaccine in the prevention of tuberculosis: Meta-analysis of the published literature. JAMA, 271(9), 698-702.",
  moore1998 = "Moore, R. A., Tramer, M. R., Carroll, D., Wiffen, P. J., & McQuay, H. J. (1998). Quantitive systematic review of topically applied non-steroidal anti-inflammatory drugs. BMJ, 316(7128), 333-338.",
  hackshaw1998 = "Hackshaw, A. K., Law, M. R., & Wald, N. J. (1997). The accumulated evidence on lung cancer and environmental tobacco smoke. BMJ, 315(7114), 980-988; Hackshaw, A. K. (1998). Lung cancer and passive smoking. Statistical Methods in Medical Research, 7(2), 119-136.",
  raudenbush1985 = "Raudenbush, S. W. (1984). Magnitude of teacher expectancy effects on pupil IQ as a function of the credibility of expectancy induction. Journal of Educational Psychology, 76(1), 85-97; Raudenbush, S. W., & Bryk, A. S. (1985). Empirical Bayes meta-analysis. Journal of Educational Statistics, 10(2), 75-98.",
  haeuser2009 = "Hauser, W., Bernardy, K., Uceyler, N., & Sommer, C. (2009). Treatment of fibromyalgia syndrome with antidepressants: A meta-analysis. JAMA, 301(2), 198-209."
)

## ---- data sets (trialsynth column names) -----------------------------------

## counts as doubles: n1*n2*(a+c)*(b+d) overflows R's 32-bit integers for ISIS-4
dich <- function(study, events_t, n_t, events_c, n_c)
  data.frame(study = as.character(study), events_t = as.numeric(events_t), n_t = as.numeric(n_t),
             events_c = as.numeric(events_c), n_c = as.numeric(n_c), stringsAsFactors = FALSE)

DATASETS <- list()
local({
  d <- read_metadat("dat.egger2001")
  DATASETS$egger2001 <<- list(dataset = "dat.egger2001", citation = CITE$egger2001, type = "dichotomous",
    subset = NULL, data = dich(paste(d$study, d$year), d$ai, d$n1i, d$ci, d$n2i),
    note = "All 16 trials, including the mega-trial ISIS-4.")
  d2 <- d[-16, ]
  DATASETS$egger2001_noisis4 <<- list(dataset = "dat.egger2001", citation = CITE$egger2001,
    type = "dichotomous",
    subset = "Without ISIS-4 (row 16), k = 15, as in metafor's ?regtest example (escalc(..., subset=-16)).",
    data = dich(paste(d2$study, d2$year), d2$ai, d2$n1i, d2$ci, d2$n2i))
  d <- read_metadat("dat.bcg")
  DATASETS$bcg <<- list(dataset = "dat.bcg", citation = CITE$bcg, type = "dichotomous", subset = NULL,
    data = dich(paste(d$author, d$year), d$tpos, d$tpos + d$tneg, d$cpos, d$cpos + d$cneg),
    note = "k = 13.")
  d <- read_metadat("dat.moore1998")
  yr <- ifelse(is.na(d$year), "unpubl.", as.character(d$year))
  DATASETS$moore1998 <<- list(dataset = "dat.moore1998", citation = CITE$moore1998, type = "dichotomous",
    subset = NULL, data = dich(paste0(d$author, " ", yr, " (id ", d$id, ")"), d$Ee, d$Ne, d$Ec, d$Nc),
    note = "Events are treatment successes; two studies with zero control events (escalc adds 1/2 to their cells for yi/vi; Harbord and Peters use the raw counts).")
  d <- read_metadat("dat.hackshaw1998")
  DATASETS$hackshaw1998 <<- list(dataset = "dat.hackshaw1998", citation = CITE$hackshaw1998,
    type = "generic", subset = NULL,
    data = data.frame(study = paste(d$author, d$year), yi = d$yi, se = sqrt(d$vi),
                      stringsAsFactors = FALSE),
    note = "Log odds ratios and variances as given in metadat (yi, vi); se = sqrt(vi).")
  d <- read_metadat("dat.raudenbush1985")
  DATASETS$raudenbush1985 <<- list(dataset = "dat.raudenbush1985", citation = CITE$raudenbush1985,
    type = "generic", subset = NULL,
    data = data.frame(study = paste(d$author, d$year), yi = d$yi, se = sqrt(d$vi),
                      stringsAsFactors = FALSE),
    note = "Standardised mean differences as given in metadat (yi, vi). Two pairs of studies share a vi, so ranktest() cannot give an exact p-value and uses the normal approximation with tie correction.")
  d <- read_metadat("dat.haeuser2009")
  d <- d[d$outcome == "pain", ]
  DATASETS$haeuser2009pain <<- list(dataset = "dat.haeuser2009", citation = CITE$haeuser2009,
    type = "continuous",
    subset = "Rows with outcome == 'pain' (22 comparisons), as in make_metafor_reference.R.",
    data = data.frame(study = paste0(d$study, " ", d$year, " (", d$tgrp, " vs ", d$cgrp, ")"),
                      mean_t = d$mti, sd_t = d$sdti, n_t = d$nti,
                      mean_c = d$mci, sd_c = d$sdci, n_c = d$nci, stringsAsFactors = FALSE))
})

## ---- helpers ------------------------------------------------------------------

escalc_for <- function(ds, measure) {
  d <- ds$data
  if (ds$type == "dichotomous") {
    es <- escalc(measure = measure, ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = d)
  } else if (ds$type == "continuous") {
    es <- escalc(measure = measure, m1i = mean_t, sd1i = sd_t, n1i = n_t,
                 m2i = mean_c, sd2i = sd_c, n2i = n_c, data = d)
  } else {
    es <- escalc(measure = "GEN", yi = yi, sei = se, data = d)
  }
  es
}

fit_rma <- function(es) {
  for (th in THRESHOLDS) {
    res <- try(rma(yi, vi, data = es, method = "REML",
                   control = list(threshold = th, maxiter = 10000L)), silent = TRUE)
    if (!inherits(res, "try-error")) {
      reg <- try(regtest(res), silent = TRUE)
      if (!inherits(reg, "try-error")) return(list(res = res, reg = reg, threshold = th))
    }
  }
  stop("REML did not converge")
}

lm_expected <- function(reg) {
  cf <- coef(summary(reg$fit))
  list(statistic = unname(reg$zval), pvalue = unname(reg$pval), df = unname(reg$dfs),
       distribution = "t",
       intercept = unname(cf[1, 1]), intercept_se = unname(cf[1, 2]),
       intercept_ci_low = unname(reg$ci.lb), intercept_ci_high = unname(reg$ci.ub),
       slope = unname(cf[2, 1]), slope_se = unname(cf[2, 2]),
       residual_sd = summary(reg$fit)$sigma, tau2 = NULL)
}

rma_expected <- function(reg) {
  f <- reg$fit
  list(statistic = unname(reg$zval), pvalue = unname(reg$pval), df = NULL, distribution = "z",
       intercept = unname(f$beta[1, 1]), intercept_se = unname(f$se[1]),
       intercept_ci_low = unname(reg$ci.lb), intercept_ci_high = unname(reg$ci.ub),
       slope = unname(f$beta[2, 1]), slope_se = unname(f$se[2]),
       tau2 = f$tau2, method = f$method)
}

CASES <- list()
add_case <- function(id, key, test, measure, call, expected, inputs = NULL, extra = list()) {
  ds <- DATASETS[[key]]
  case <- c(list(id = id, dataset = ds$dataset, data_key = key, subset = ds$subset,
                 citation = ds$citation, test = test, measure = measure,
                 metafor_call = call, k = nrow(ds$data), data = ds$data),
            if (!is.null(ds$note)) list(note = ds$note),
            list(inputs = inputs, expected = expected), extra)
  CASES[[length(CASES) + 1L]] <<- case
}

run_dataset <- function(key, measure) {
  ds <- DATASETS[[key]]
  es <- escalc_for(ds, measure)
  inputs <- list(yi = c(es$yi), vi = c(es$vi))
  tag <- paste0(key, "_", measure)
  esc_call <- switch(ds$type,
    dichotomous = sprintf("es <- escalc(measure='%s', ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=dat)", measure),
    continuous = sprintf("es <- escalc(measure='%s', m1i=mean_t, sd1i=sd_t, n1i=n_t, m2i=mean_c, sd2i=sd_c, n2i=n_c, data=dat)", measure),
    generic = "es <- escalc(measure='GEN', yi=yi, sei=se, data=dat)")

  ## Egger, classical (lm) and mixed-effects (rma, REML)
  fr <- fit_rma(es)
  rma_call <- sprintf("res <- rma(yi, vi, data=es, method='REML', %s)", CONTROL_TXT(fr$threshold))
  reg <- regtest(fr$res, model = "lm")
  add_case(paste0(tag, "_egger_lm"), key, "egger", measure,
           paste(esc_call, rma_call, "regtest(res, model='lm', predictor='sei')", sep = "; "),
           c(list(model = "lm", predictor = "sei"), lm_expected(reg)), inputs)
  add_case(paste0(tag, "_egger_rma"), key, "egger", measure,
           paste(esc_call, rma_call, "regtest(res)  # model='rma', predictor='sei'", sep = "; "),
           c(list(model = "rma", predictor = "sei"), rma_expected(fr$reg)), inputs,
           list(control_threshold = fr$threshold))

  ## Begg & Mazumdar rank correlation
  rk <- withCallingHandlers(ranktest(fr$res), warning = function(w) invokeRestart("muffleWarning"))
  wi <- 1 / es$vi
  ystar <- (es$yi - sum(wi * es$yi) / sum(wi)) / sqrt(es$vi - 1 / sum(wi))
  ties <- any(duplicated(es$vi)) || any(duplicated(ystar))
  add_case(paste0(tag, "_begg"), key, "begg", measure,
           paste(esc_call, rma_call, "ranktest(res)", sep = "; "),
           list(model = NULL, predictor = NULL, statistic = unname(rk$tau),
                kendall_tau = unname(rk$tau), pvalue = unname(rk$pval),
                distribution = if (ties) "normal" else "exact", ties = ties),
           inputs)

  if (ds$type != "dichotomous") return(invisible())
  d <- ds$data
  ni <- d$n_t + d$n_c

  ## Peters: metafor's 1/n predictor with 1/vi weights
  reg <- regtest(fr$res, model = "lm", predictor = "ninv")
  add_case(paste0(tag, "_peters_iv"), key, "peters", measure,
           paste(esc_call, rma_call, "regtest(res, model='lm', predictor='ninv')  # ni = n_t + n_c from escalc", sep = "; "),
           c(list(model = "lm", predictor = "ninv", weights = "inverse_variance"), lm_expected(reg)),
           c(inputs, list(ni = ni)))
  ## Peters et al. 2006 weights
  pv <- 1 / (d$events_t + d$events_c) + 1 / (d$n_t - d$events_t + d$n_c - d$events_c)
  reg <- regtest(c(es$yi), vi = pv, ni = ni, model = "lm", predictor = "ninv")
  add_case(paste0(tag, "_peters"), key, "peters", measure,
           paste(esc_call, "regtest(c(es$yi), vi=1/(events_t+events_c) + 1/(n_t-events_t+n_c-events_c), ni=n_t+n_c, model='lm', predictor='ninv')", sep = "; "),
           c(list(model = "lm", predictor = "ninv", weights = "peters2006"), lm_expected(reg)),
           c(inputs, list(ni = ni, weight_vi = pv)))

  ## Harbord (score test for the log OR; the same for every measure of the analysis)
  if (measure == "OR") {
    pe <- escalc(measure = "PETO", ai = events_t, n1i = n_t, ci = events_c, n2i = n_c,
                 data = d, add = 0, to = "none")
    reg <- regtest(c(pe$yi), vi = c(pe$vi), model = "lm")
    N <- d$n_t + d$n_c
    Z <- d$events_t - (d$events_t + d$events_c) * d$n_t / N
    V <- d$n_t * d$n_c * (d$events_t + d$events_c) * (N - d$events_t - d$events_c) / (N^2 * (N - 1))
    chk <- coef(summary(lm(I(Z / sqrt(V)) ~ sqrt(V))))
    stopifnot(isTRUE(all.equal(unname(chk[1, 3]), unname(reg$zval), tolerance = 1e-10)),
              isTRUE(all.equal(c(pe$yi), Z / V, tolerance = 1e-12)))
    add_case(paste0(key, "_harbord"), key, "harbord", "PETO_OR",
             paste("pe <- escalc(measure='PETO', ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=dat, add=0, to='none')",
                   "regtest(c(pe$yi), vi=c(pe$vi), model='lm')  # = Harbord: lm(Z/sqrt(V) ~ sqrt(V)), intercept", sep = "; "),
             c(list(model = "lm", predictor = "sei"), lm_expected(reg)),
             list(yi = c(pe$yi), vi = c(pe$vi)),
             list(harbord_check = list(
               formula = "Z = a - (a+c) n1/N; V = n1 n2 (a+c)(b+d) / (N^2 (N-1)); lm(Z/sqrt(V) ~ sqrt(V))",
               intercept = unname(chk[1, 1]), intercept_se = unname(chk[1, 2]),
               t = unname(chk[1, 3]), p = unname(chk[1, 4]),
               slope = unname(chk[2, 1]))))
  }
}

run_dataset("egger2001", "OR")
run_dataset("egger2001_noisis4", "OR")
run_dataset("bcg", "RR")
run_dataset("bcg", "OR")
run_dataset("moore1998", "OR")
run_dataset("moore1998", "RR")
run_dataset("hackshaw1998", "GEN")
run_dataset("raudenbush1985", "GEN")
run_dataset("haeuser2009pain", "SMD")
run_dataset("haeuser2009pain", "MD")

out <- list(
  generated_by = "validation/make_small_study_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  generated_on = format(Sys.time(), "%Y-%m-%d"),
  n_cases = length(CASES),
  cases = CASES
)
dir.create(dirname(OUT_FILE), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", null = "null", pretty = TRUE),
           OUT_FILE)
message("wrote ", length(CASES), " cases to ", OUT_FILE)

#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## validation/make_metafor_reference.R
##
## Produces tests/reference/metafor_reference.json: reference values computed
## by R metafor itself (rma.uni, rma.mh, rma.peto, escalc, confint, predict,
## weights) on real data sets from R's metadat package, which the trialsynth
## test-suite compares against.
##
## Run from anywhere (paths are resolved from this script's location):
##     Rscript validation/make_metafor_reference.R
## The data are read from <repo>/../shared/data/metadat/*.csv (the CSV
## conversion of metadat's data/ folder that sits beside the repository).
##
## Optional environment variables (used only for the convergence self-check
## described in validation/README.md):
##     METAFOR_REF_THRESHOLD, METAFOR_REF_TOL, METAFOR_REF_CI_TOL, METAFOR_REF_OUT
## ---------------------------------------------------------------------------

HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
               if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
source(file.path(HERE, "common.R"))  # metafor, jsonlite; REPO_ROOT, SHARED, read_metadat() ...
OUT_FILE <- Sys.getenv("METAFOR_REF_OUT", reference_file("metafor_reference.json"))

## ---- numerical settings -----------------------------------------------------
## rma.uni() control (metafor 3.8-1, see rma.uni source / help(rma)):
##   threshold : convergence criterion of the Fisher scoring algorithm used by
##               method = "ML", "REML", "EB" (absolute change in tau^2).
##   tol       : tolerance passed to uniroot() for method = "PM" (and also the
##               tolerance of the ML/REML "ll0check"); DL/HE/SJ are closed form.
##   maxiter   : maximum Fisher scoring iterations / uniroot iterations.
## confint.rma.uni() control:
##   tol       : tolerance passed to uniroot() for the Q-profile tau^2 CI.
## Fisher scoring converges only linearly and its stopping rule is an ABSOLUTE
## change in tau^2, so for small tau^2 scales (e.g. risk differences, tau^2 ~
## 1e-4) threshold = 1e-12 still leaves a relative error of ~1e-8. We therefore
## start with threshold = 1e-15; if metafor reports non-convergence (the
## threshold is then below the floating-point resolution of a large tau^2, e.g.
## tau^2 ~ 700 for dat.normand1999 MD) the fit is repeated with the next,
## looser value. The threshold actually used is visible in each metafor_call.
THRESHOLD <- as.numeric(Sys.getenv("METAFOR_REF_THRESHOLD", "1e-15"))
THRESHOLD_FALLBACKS <- c(1e-12, 1e-10)
## uniroot() tolerances are absolute too; with a tiny value uniroot() stops at
## its own floor (~2 * .Machine$double.eps * |root|), i.e. at full precision.
TOL       <- as.numeric(Sys.getenv("METAFOR_REF_TOL", "1e-15"))
CI_TOL    <- as.numeric(Sys.getenv("METAFOR_REF_CI_TOL", "1e-15"))
MAXITER   <- 10000L

fmt_num <- function(x) format(x, scientific = TRUE, digits = 15)
rma_control_txt <- function(threshold = THRESHOLD) {
  sprintf("control=list(threshold=%s, tol=%s, maxiter=%d)",
          fmt_num(threshold), fmt_num(TOL), MAXITER)
}
confint_control_txt <- function() sprintf("control=list(tol=%s)", fmt_num(CI_TOL))

## metafor >= 4.0 renamed the common-effect model "EE" ("FE" still works);
## 3.x already accepts "EE".
EE_METHOD <- if (packageVersion("metafor") >= "3.0") "EE" else "FE"
## test="adhoc" (Knapp-Hartung with the scale factor s2w truncated below at 1);
## probed at run time so that older metafor versions simply skip it.
HAS_ADHOC <- !inherits(try(rma(c(0.1, 0.3, 0.2), c(0.01, 0.02, 0.03), test = "adhoc"),
                           silent = TRUE), "try-error")

RE_METHODS <- c("DL", "REML", "ML", "PM", "HE", "SJ", "EB")
TESTS      <- c("z", "knha", if (HAS_ADHOC) "adhoc")

## ---- data sets ----------------------------------------------------------------
## Every loader returns: dataset, subset (NULL or a sentence), citation,
## type ("dichotomous" | "continuous" | "generic"), data (data.frame using
## trialsynth's column names, first column "study"), optional note.

dich <- function(study, events_t, n_t, events_c, n_c) {
  data.frame(study = as.character(study), events_t = events_t, n_t = n_t,
             events_c = events_c, n_c = n_c, stringsAsFactors = FALSE)
}
cont <- function(study, mean_t, sd_t, n_t, mean_c, sd_c, n_c) {
  data.frame(study = as.character(study), mean_t = mean_t, sd_t = sd_t, n_t = n_t,
             mean_c = mean_c, sd_c = sd_c, n_c = n_c, stringsAsFactors = FALSE)
}
gen <- function(study, yi, se) {
  data.frame(study = as.character(study), yi = yi, se = se, stringsAsFactors = FALSE)
}

CITE <- list(
  bcg = "Colditz, G. A., Brewer, T. F., Berkey, C. S., et al. (1994). Efficacy of BCG vaccine in the prevention of tuberculosis: Meta-analysis of the published literature. JAMA, 271(9), 698-702.",
  li2007 = "Li, J., Zhang, Q., Zhang, M., & Egger, M. (2007). Intravenous magnesium for acute myocardial infarction. Cochrane Database of Systematic Reviews, 2, CD002755.",
  hine1989 = "Hine, L. K., Laird, N., Hewitt, P., & Chalmers, T. C. (1989). Meta-analytic evidence against prophylactic use of lidocaine in acute myocardial infarction. Archives of Internal Medicine, 149(12), 2694-2698; data as given in Normand, S. T. (1999), Statistics in Medicine, 18(3), 321-359, Table I.",
  egger2001 = "Egger, M., Davey Smith, G., & Altman, D. G. (Eds.) (2001). Systematic reviews in health care: Meta-analysis in context (2nd ed.). London: BMJ Books.",
  nielweise2007 = "Niel-Weise, B. S., Stijnen, T., & van den Broek, P. J. (2007). Anti-infective-treated central venous catheters: A systematic review of randomized controlled trials. Intensive Care Medicine, 33(12), 2058-2068.",
  yusuf1985 = "Yusuf, S., Peto, R., Lewis, J., Collins, R., & Sleight, P. (1985). Beta blockade during and after myocardial infarction: An overview of the randomized trials. Progress in Cardiovascular Disease, 27(5), 335-371.",
  moore1998 = "Moore, R. A., Tramer, M. R., Carroll, D., Wiffen, P. J., & McQuay, H. J. (1998). Quantitive systematic review of topically applied non-steroidal anti-inflammatory drugs. BMJ, 316(7128), 333-338.",
  normand1999 = "Normand, S. T. (1999). Meta-analysis: Formulating, evaluating, combining, and reporting. Statistics in Medicine, 18(3), 321-359.",
  furukawa2003 = "Furukawa, T. A., McGuire, H., & Barbui, C. (2003). Low dosage tricyclic antidepressants for depression. Cochrane Database of Systematic Reviews, 3, CD003197.",
  haeuser2009 = "Hauser, W., Bernardy, K., Uceyler, N., & Sommer, C. (2009). Treatment of fibromyalgia syndrome with antidepressants: A meta-analysis. JAMA, 301(2), 198-209.",
  spooner2002 = "Spooner, C., Saunders, L. D., & Rowe, B. H. (2002). Nedocromil sodium for preventing exercise-induced bronchoconstriction. Cochrane Database of Systematic Reviews, CD001183.",
  poole2003 = "Poole, P. J., & Black, P. N. (2003). Mucolytic agents for chronic bronchitis or chronic obstructive pulmonary disease. Cochrane Database of Systematic Reviews, 1, CD001287.",
  hackshaw1998 = "Hackshaw, A. K., Law, M. R., & Wald, N. J. (1997). The accumulated evidence on lung cancer and environmental tobacco smoke. BMJ, 315(7114), 980-988; Hackshaw, A. K. (1998). Lung cancer and passive smoking. Statistical Methods in Medical Research, 7(2), 119-136.",
  greenland1992 = "Greenland, S., & Longnecker, M. P. (1992). Methods for trend estimation from summarized dose-response data, with applications to meta-analysis. American Journal of Epidemiology, 135(11), 1301-1309.",
  raudenbush1985 = "Raudenbush, S. W. (1984). Magnitude of teacher expectancy effects on pupil IQ as a function of the credibility of expectancy induction. Journal of Educational Psychology, 76(1), 85-97; Raudenbush, S. W., & Bryk, A. S. (1985). Empirical Bayes meta-analysis. Journal of Educational Statistics, 10(2), 75-98.",
  steurer2006 = "Steurer, M., Pall, G., Richards, S., et al. (2006). Purine antagonists for chronic lymphocytic leukaemia. Cochrane Database of Systematic Reviews, 3, CD004270."
)

load_bcg <- function() {
  d <- read_metadat("dat.bcg")
  out <- list(key = "bcg", dataset = "dat.bcg", subset = NULL, citation = CITE$bcg,
              type = "dichotomous",
              data = dich(paste(d$author, d$year), d$tpos, d$tpos + d$tneg,
                          d$cpos, d$cpos + d$cneg))
  out$subgroup <- d$alloc   # used only by the subgroup cases
  out
}
load_li2007 <- function() {
  d <- read_metadat("dat.li2007")
  list(key = "li2007", dataset = "dat.li2007", subset = NULL, citation = CITE$li2007,
       type = "dichotomous", data = dich(paste(d$study, d$year), d$ai, d$n1i, d$ci, d$n2i),
       note = "Two studies with a single zero cell (Urek 1996, Santoro 2000).")
}
load_hine1989 <- function(rows = NULL) {
  d <- read_metadat("dat.hine1989")
  key <- "hine1989"; subset <- NULL
  if (!is.null(rows)) {
    d <- d[rows, ]
    key <- paste0("hine1989k", length(rows))
    subset <- if (length(rows) == 2L)
      "First two studies only (Chopra et al., Mogensen): a k = 2 meta-analysis to record metafor's behaviour with two studies."
    else
      "First study only (Chopra et al.): a k = 1 'meta-analysis' to record metafor's behaviour with a single study."
  }
  list(key = key, dataset = "dat.hine1989", subset = subset, citation = CITE$hine1989,
       type = "dichotomous", data = dich(d$source, d$ai, d$n1i, d$ci, d$n2i))
}
load_egger2001 <- function() {
  d <- read_metadat("dat.egger2001")
  list(key = "egger2001", dataset = "dat.egger2001", subset = NULL, citation = CITE$egger2001,
       type = "dichotomous", data = dich(paste(d$study, d$year), d$ai, d$n1i, d$ci, d$n2i),
       note = "One study with a single zero cell (Bertschat 1989).")
}
load_nielweise2007 <- function() {
  d <- read_metadat("dat.nielweise2007")
  list(key = "nielweise2007", dataset = "dat.nielweise2007", subset = NULL,
       citation = CITE$nielweise2007, type = "dichotomous",
       data = dich(paste(d$author, d$year), d$ai, d$n1i, d$ci, d$n2i),
       note = "Several single-zero studies and one double-zero study (Yucel 2004).")
}
load_yusuf1985 <- function() {
  d <- read_metadat("dat.yusuf1985")
  d <- d[as.character(d$table) == "6", ]
  d <- d[!is.na(d$ai), ]
  list(key = "yusuf1985t6", dataset = "dat.yusuf1985",
       subset = "Rows with table == '6' (total mortality, short-term trials of oral beta blockers); the row 'Snow 1' (id 1.8) has no data (all NA) and is dropped, leaving 21 trials of which 3 are double-zero studies (Pitt, Hutton, Yusuf) and one has a single zero cell (Gupta).",
       citation = CITE$yusuf1985, type = "dichotomous",
       data = dich(paste0(d$trial, " (", d$id, ")"), d$ai, d$n1i, d$ci, d$n2i))
}
load_moore1998 <- function() {
  d <- read_metadat("dat.moore1998")
  yr <- ifelse(is.na(d$year), "unpubl.", as.character(d$year))
  list(key = "moore1998", dataset = "dat.moore1998", subset = NULL, citation = CITE$moore1998,
       type = "dichotomous",
       data = dich(paste0(d$author, " ", yr, " (id ", d$id, ")"), d$Ee, d$Ne, d$Ec, d$Nc),
       note = "Events are treatment successes (>= 50% pain relief); two studies with zero control events.")
}
load_normand1999 <- function() {
  d <- read_metadat("dat.normand1999")
  list(key = "normand1999", dataset = "dat.normand1999", subset = NULL,
       citation = CITE$normand1999, type = "continuous",
       data = cont(d$source, d$m1i, d$sd1i, d$n1i, d$m2i, d$sd2i, d$n2i),
       note = "Length of hospital stay (days); group 1 = specialist stroke care, group 2 = conventional care.")
}
load_furukawa2003 <- function() {
  d <- read_metadat("dat.furukawa2003")
  list(key = "furukawa2003", dataset = "dat.furukawa2003", subset = NULL,
       citation = CITE$furukawa2003, type = "continuous",
       data = cont(d$author, d$Me, d$Se, d$Ne, d$Mc, d$Sc, d$Nc),
       note = "Studies used different depression scales, so only the SMD is meaningful; MD cases are kept as purely numerical references.")
}
load_haeuser2009 <- function() {
  d <- read_metadat("dat.haeuser2009")
  d <- d[d$outcome == "pain", ]
  list(key = "haeuser2009pain", dataset = "dat.haeuser2009",
       subset = "Rows with outcome == 'pain' (22 treatment-control comparisons from 18 trials, as in the metadat example and Riley et al. 2011); some comparisons share a control group and means are raw means or mean changes (column 'type'), which is ignored here exactly as in the published analysis.",
       citation = CITE$haeuser2009, type = "continuous",
       data = cont(paste0(d$study, " ", d$year, " (", d$tgrp, " vs ", d$cgrp, ", ", d$type, ")"),
                   d$mti, d$sdti, d$nti, d$mci, d$sdci, d$nci),
       note = "Scales and raw/change scores differ between studies, so only the SMD is meaningful; MD cases are kept as purely numerical references.")
}
load_spooner2002 <- function() {
  d <- read_metadat("dat.spooner2002")
  out <- list(key = "spooner2002", dataset = "dat.spooner2002", subset = NULL,
              citation = CITE$spooner2002, type = "continuous",
              data = cont(paste(d$author, d$year), d$Me, d$Se, d$Ne, d$Mc, d$Sc, d$Nc))
  out$subgroup <- d$agegroup
  out
}
load_poole2003 <- function() {
  d <- read_metadat("dat.poole2003")
  keep <- d$Se > 0 & d$Sc > 0
  list(key = "poole2003", dataset = "dat.poole2003",
       subset = "Studies with SD = 0 in both arms (Jackson 1984, Meister 1999) are excluded: their sampling variance would be 0 (MD) or the SMD infinite; RevMan likewise reports them as not estimable. 17 of 19 rows used.",
       citation = CITE$poole2003, type = "continuous",
       data = cont(paste(d$author, d$year)[keep], d$Me[keep], d$Se[keep], d$Ne[keep],
                   d$Mc[keep], d$Sc[keep], d$Nc[keep]))
}
load_hackshaw1998 <- function() {
  d <- read_metadat("dat.hackshaw1998")
  list(key = "hackshaw1998", dataset = "dat.hackshaw1998", subset = NULL,
       citation = CITE$hackshaw1998, type = "generic",
       data = gen(paste(d$author, d$year), d$yi, sqrt(d$vi)),
       note = "yi = log odds ratio; se = sqrt(vi) of the metadat columns.")
}
load_greenland1992 <- function() {
  d <- read_metadat("dat.greenland1992")
  list(key = "greenland1992", dataset = "dat.greenland1992", subset = NULL,
       citation = CITE$greenland1992, type = "generic",
       data = gen(paste(d$author, d$year), d$b, d$SE),
       note = "yi = b (log relative risk per g/day of alcohol), se = SE; very small variances (tau^2 of order 1e-4).")
}
load_raudenbush1985 <- function() {
  d <- read_metadat("dat.raudenbush1985")
  list(key = "raudenbush1985", dataset = "dat.raudenbush1985", subset = NULL,
       citation = CITE$raudenbush1985, type = "generic",
       data = gen(paste(d$author, d$year), d$yi, sqrt(d$vi)),
       note = "yi = standardized mean difference; se = sqrt(vi) of the metadat columns.")
}
load_steurer2006 <- function() {
  d <- read_metadat("dat.steurer2006")
  list(key = "steurer2006", dataset = "dat.steurer2006", subset = NULL,
       citation = CITE$steurer2006, type = "generic",
       data = gen(paste(d$author, d$year), d$lnHR, d$selnHR),
       note = "yi = lnHR, se = selnHR (overall survival).")
}

## ---- building and evaluating metafor calls -----------------------------------
## Each case is defined by R code text. The text is what gets evaluated (with
## `dat` = the case's data frame), so "metafor_call" is exactly what was run.

ESCALC_MEASURE <- c(RR = "RR", OR = "OR", RD = "RD", PETO_OR = "PETO", MD = "MD", SMD = "SMD")

escalc_txt <- function(type, measure) {
  m <- ESCALC_MEASURE[[measure]]
  if (type == "dichotomous")
    sprintf("escalc(measure='%s', ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=dat)", m)
  else
    sprintf("escalc(measure='%s', m1i=mean_t, sd1i=sd_t, n1i=n_t, m2i=mean_c, sd2i=sd_c, n2i=n_c, data=dat)", m)
}

## yi/vi arguments of rma(): from escalc output `es`, or yi/sei for generic data
yv_txt <- function(type) if (type == "generic") "yi, sei=se, data=dat" else "yi, vi, data=es"

## returns list(lines = character vector of R statements, kind = "uni"|"mh"|"peto")
model_code <- function(type, measure, method, test, subset_txt = NULL,
                       threshold = THRESHOLD) {
  pre <- if (type == "generic") character(0) else paste0("es <- ", escalc_txt(type, measure))
  sub <- if (is.null(subset_txt)) "" else paste0(", subset=", subset_txt)
  if (method == "MH") {
    ## rma.mh(): Mantel-Haenszel common effect; metafor defaults add=1/2,
    ## to='only0', drop00=TRUE (the latter two only affect the escalc yi/vi
    ## used for Cochran's Q), correct=TRUE (CMH test).
    return(list(kind = "mh", lines = sprintf(
      "res <- rma.mh(ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=dat, measure='%s'%s)",
      measure, sub)))
  }
  if (method == "PETO") {
    ## rma.peto(): Peto's one-step odds ratio (defaults add=1/2, to='only0', drop00=TRUE)
    return(list(kind = "peto", lines = sprintf(
      "res <- rma.peto(ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=dat%s)", sub)))
  }
  if (method == "IV") {
    ## rma.uni(method='EE'): inverse-variance common (equal) effect model
    return(list(kind = "uni", lines = c(pre, sprintf(
      "res <- rma(%s%s, method='%s')", yv_txt(type), sub, EE_METHOD))))
  }
  ## random-effects model, rma.uni(method=..., test=...)
  list(kind = "uni", lines = c(pre,
    sprintf("res <- rma(%s%s, method='%s', test='%s', %s)", yv_txt(type), sub, method, test,
            rma_control_txt(threshold)),
    sprintf("ci <- confint(res, %s)", confint_control_txt()),   # Q-profile CIs (default type)
    "pr <- predict(res)"))
}

## Evaluate statements one by one in a fresh environment, collecting warnings.
## Returns the environment plus the error (if any) and the statement that failed.
run_code <- function(lines, dat) {
  env <- new.env(parent = globalenv())
  env$dat <- dat
  warns <- character(0)
  err <- NULL; failed <- NULL
  for (ln in lines) {
    r <- tryCatch(
      withCallingHandlers(
        { eval(parse(text = ln), envir = env); NULL },
        warning = function(w) {
          warns <<- c(warns, conditionMessage(w))
          invokeRestart("muffleWarning")
        }),
      error = function(e) conditionMessage(e))
    if (!is.null(r)) { err <- r; failed <- ln; break }
  }
  list(env = env, warnings = unique(gsub("\\s+", " ", warns)), error = err, failed = failed)
}

## ---- extracting results -----------------------------------------------------------

num1 <- function(x) if (is.null(x) || length(x) == 0L) NA_real_ else as.numeric(x)[1]
vec  <- function(x) I(as.numeric(x))       # I(): keep length-1 vectors as JSON arrays

## Summary of one fitted model. `ci` (confint) and `pr` (predict) may be NULL.
fit_summary <- function(res, kind, method, test, ci = NULL, pr = NULL) {
  random <- kind == "uni" && !(method %in% c("IV", "EE", "FE"))
  tau2_ci <- i2_ci <- h2_ci <- c(NA_real_, NA_real_)
  if (random && !is.null(ci)) {
    rnd <- ci$random
    tau2_ci <- rnd["tau^2", c("ci.lb", "ci.ub")]
    i2_ci   <- rnd["I^2(%)", c("ci.lb", "ci.ub")]
    h2_ci   <- rnd["H^2", c("ci.lb", "ci.ub")]
  }
  q_df <- if (kind == "uni") res$k - res$p else max(res$k.yi - 1L, 0L)
  out <- list(
    k = res$k,
    estimate = num1(res$beta), se = num1(res$se),
    ci_low = num1(res$ci.lb), ci_high = num1(res$ci.ub),
    statistic = num1(res$zval), pvalue = num1(res$pval),
    tau2 = if (random) num1(res$tau2) else NA_real_,
    tau2_ci_low = num1(tau2_ci[1]), tau2_ci_high = num1(tau2_ci[2]),
    i2 = num1(res$I2), i2_ci_low = num1(i2_ci[1]), i2_ci_high = num1(i2_ci[2]),
    h2 = num1(res$H2), h2_ci_low = num1(h2_ci[1]), h2_ci_high = num1(h2_ci[2]),
    q = num1(res$QE), q_df = q_df, q_pvalue = num1(res$QEp),
    pi_low = if (random && !is.null(pr)) num1(pr$pi.lb) else NA_real_,
    pi_high = if (random && !is.null(pr)) num1(pr$pi.ub) else NA_real_,
    weights = vec(weights(res))           # percent, input order (weights.rma.*)
  )
  ## ---- extras
  if (random) {
    out$tau <- sqrt(num1(res$tau2))
    out$se_tau2 <- num1(res$se.tau2)
    out$tau2_is_exact_zero <- identical(num1(res$tau2), 0)
    ## Fisher scoring (ML/REML/EB) approaches a boundary optimum tau^2 = 0 by
    ## step halving and stops at a tiny positive value (order of the threshold):
    ## such values mean "tau^2 = 0"; compare them with an absolute tolerance.
    th_used <- if (is.null(res$control$threshold)) THRESHOLD else res$control$threshold
    out$tau2_effectively_zero <- num1(res$tau2) < 1e3 * th_used
    out$tau2_converged <- TRUE   # rma() stops with an error when ML/REML/EB/PM fail
    out$tau2_iterative <- method %in% c("ML", "REML", "EB", "PM")
    out$vt <- num1(res$vt)       # 'typical' within-study variance used for I^2/H^2
    if (!is.null(ci)) {
      out$tau2_ci_lb_sign <- ci$lb.sign
      out$tau2_ci_ub_sign <- ci$ub.sign
      out$tau2_ci_null <- isTRUE(ci$ci.null)
      ## confint() searches tau^2 only up to tau2.max = max(100, 10 * tau2)
      ## and then reports the limit itself with ub.sign ">". Record the bound
      ## found with a much wider search interval as well.
      if (identical(ci$ub.sign, ">")) {
        wide <- 1e4 * max(100, 10 * num1(res$tau2))
        call <- sprintf("confint(res, control=list(tol=%s, tau2.max=%s))",
                        fmt_num(CI_TOL), fmt_num(wide))
        ci2 <- tryCatch(eval(parse(text = call)), error = function(e) NULL)
        if (!is.null(ci2)) {
          out$confint_uncapped_call <- call
          out$tau2_ci_high_uncapped <- num1(ci2$random["tau^2", "ci.ub"])
          out$i2_ci_high_uncapped <- num1(ci2$random["I^2(%)", "ci.ub"])
          out$h2_ci_high_uncapped <- num1(ci2$random["H^2", "ci.ub"])
          out$tau2_ci_ub_sign_uncapped <- ci2$ub.sign
        }
      }
    }
    if (!is.null(pr)) {
      out$pi_distribution <- if (res$test %in% c("knha", "adhoc", "t")) "t" else "normal"
      out$pi_df <- if (res$test %in% c("knha", "adhoc", "t")) num1(pr$pi.ddf) else NA_real_
      out$pi_se <- sqrt(num1(pr$se)^2 + num1(res$tau2))
    }
  }
  if (kind == "uni") {
    out$test_used <- res$test     # metafor switches knha/adhoc to z when k = 1
    out$df <- if (res$test %in% c("knha", "adhoc", "t")) num1(res$ddf) else NA_real_
    if (res$test %in% c("knha", "adhoc")) out$knha_scale_s2w <- num1(res$s2w)
  }
  if (kind %in% c("mh", "peto")) {
    out$k_yi <- res$k.yi     # studies with a finite escalc yi (double-zero dropped): used for Q
    out$k_pos <- num1(res$k.pos)
  }
  if (kind == "mh" && res$measure == "OR") {
    out$cmh <- num1(res$CO);  out$cmh_pvalue <- num1(res$COp)    # Cochran-Mantel-Haenszel (continuity corrected)
    out$mh_test <- num1(res$MH); out$mh_test_pvalue <- num1(res$MHp)
    out$breslow_day <- num1(res$BD); out$breslow_day_pvalue <- num1(res$BDp)
    out$tarone <- num1(res$TA); out$tarone_pvalue <- num1(res$TAp)
  }
  out
}

EXPECTED_FIELDS <- c("k", "estimate", "se", "ci_low", "ci_high", "statistic", "pvalue",
                     "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high",
                     "h2", "h2_ci_low", "h2_ci_high", "q", "q_df", "q_pvalue", "pi_low",
                     "pi_high", "weights")

## escalc() yi/vi with metafor defaults (add=1/2, to='only0', drop00=FALSE, vtype='LS')
escalc_values <- function(ds, measure) {
  if (ds$type == "generic") return(NULL)
  env <- new.env(); env$dat <- ds$data
  es <- eval(parse(text = escalc_txt(ds$type, measure)), envir = env)
  list(yi = vec(es$yi), vi = vec(es$vi))
}

data_json <- function(ds, with_subgroup = FALSE) {
  d <- lapply(as.list(ds$data), function(x) if (is.numeric(x)) vec(x) else I(x))
  if (with_subgroup) d$subgroup <- I(as.character(ds$subgroup))
  d
}

## ---- one case ------------------------------------------------------------------

run_case <- function(ds, measure, method, test = "z") {
  id <- paste(ds$key, measure, method, test, sep = "_")
  mc <- model_code(ds$type, measure, method, test)
  run <- run_code(mc$lines, ds$data)
  control_note <- NULL
  ## absolute Fisher-scoring threshold too small for this tau^2 scale -> retry
  ## with the next looser threshold (see THRESHOLD_FALLBACKS above)
  for (th in THRESHOLD_FALLBACKS) {
    if (is.null(run$error) || !grepl("did not converge", run$error) ||
        !(method %in% c("ML", "REML", "EB"))) break
    control_note <- c(control_note, sprintf(
      "Fisher scoring did not converge with threshold=%s; retried with threshold=%s.",
      fmt_num(if (is.null(control_note)) THRESHOLD else prev_th), fmt_num(th)))
    prev_th <- th
    mc <- model_code(ds$type, measure, method, test, threshold = th)
    run <- run_code(mc$lines, ds$data)
  }
  case <- list(id = id, dataset = ds$dataset, subset = ds$subset, citation = ds$citation,
               measure = measure, method = method, test = test,
               metafor_call = paste(mc$lines, collapse = "; "))
  if (!is.null(ds$note)) case$note <- ds$note
  if (!is.null(control_note)) case$control_note <- paste(control_note, collapse = " ")
  case$data <- data_json(ds)
  case["escalc"] <- list(escalc_values(ds, measure))   # list(NULL) keeps a JSON null
  res <- run$env$res
  if (is.null(res)) {
    case$error <- run$error
    case["expected"] <- list(NULL)
  } else {
    ## confint()/predict() may fail (e.g. k = 1) although the model fitted
    if (!is.null(run$error)) case$confint_error <- paste0(run$failed, ": ", run$error)
    case$expected <- fit_summary(res, mc$kind, method, test,
                                 ci = run$env$ci, pr = run$env$pr)
    ## predict() was not reached when confint() failed: run it on its own
    if (!is.null(run$error) && is.null(run$env$pr) && mc$kind == "uni" && method != "IV") {
      pr <- tryCatch(suppressWarnings(predict(res)), error = function(e) NULL)
      case$expected <- fit_summary(res, mc$kind, method, test, ci = NULL, pr = pr)
    }
  }
  if (length(run$warnings)) case$warnings <- I(run$warnings)
  case
}

## ---- subgroup case ----------------------------------------------------------------
## Per-subgroup fits (rma(..., subset=subgroup=='g')), the RevMan-style test for
## subgroup differences (Q between subgroup estimates, inverse-variance fixed
## pooling of the subgroup estimates, df = G - 1), and metafor's own
## moderator test QM from rma(yi, vi, mods=~factor(subgroup), method=...).

run_subgroup_case <- function(ds, measure, method, label) {
  stopifnot(method %in% c("IV", RE_METHODS))
  test <- "z"
  case <- run_case(ds, measure, method, test)          # overall analysis
  case$id <- paste(ds$key, label, "subgroups", measure, method, test, sep = "_")
  case$subgroup_variable <- label
  case$data <- data_json(ds, with_subgroup = TRUE)
  dat <- ds$data; dat$subgroup <- as.character(ds$subgroup)
  groups <- unique(dat$subgroup)
  sg <- list(); est <- c(); se <- c()
  for (g in groups) {
    mc <- model_code(ds$type, measure, method, test, subset_txt = sprintf("subgroup=='%s'", g))
    run <- run_code(mc$lines, dat)
    if (is.null(run$env$res)) stop("subgroup fit failed: ", run$error)
    s <- fit_summary(run$env$res, mc$kind, method, test, ci = run$env$ci, pr = run$env$pr)
    s$metafor_call <- paste(mc$lines, collapse = "; ")
    if (!is.null(run$error)) s$confint_error <- run$error
    if (length(run$warnings)) s$warnings <- I(run$warnings)
    sg[[g]] <- s
    est <- c(est, s$estimate); se <- c(se, s$se)
  }
  case$expected_subgroups <- sg
  ## RevMan-style test for subgroup differences, from metafor's subgroup results
  w <- 1 / se^2
  pooled <- sum(w * est) / sum(w)
  q <- sum(w * (est - pooled)^2)
  df <- length(groups) - 1L
  case$expected_subgroup_test <- list(
    q = q, df = df, pvalue = pchisq(q, df, lower.tail = FALSE),
    i2 = max(0, 100 * (q - df) / q),
    method = "Q = sum_g (est_g - est_pooled)^2 / se_g^2, est_pooled = inverse-variance fixed pooling of the subgroup estimates (RevMan); computed in R from metafor's per-subgroup estimate and se")
  ## metafor's mixed-effects / fixed-effects moderator test
  mmethod <- if (method == "IV") EE_METHOD else method
  pre <- if (ds$type == "generic") character(0) else paste0("es <- ", escalc_txt(ds$type, measure))
  lines <- c(pre, sprintf("mod <- rma(%s, mods=~factor(subgroup), method='%s'%s)",
                          yv_txt(ds$type), mmethod,
                          if (method == "IV") "" else paste0(", ", rma_control_txt())))
  run <- run_code(lines, dat)
  mod <- run$env$mod
  case$expected_subgroup_test_metafor_mods <- list(
    q = num1(mod$QM), df = num1(mod$QMdf[1]), pvalue = num1(mod$QMp),
    tau2_residual = if (method == "IV") NA_real_ else num1(mod$tau2),
    metafor_call = paste(lines, collapse = "; "),
    note = if (method == "IV")
      "Fixed-effects meta-regression: QM equals the RevMan-style Q_between."
    else
      "Mixed-effects meta-regression with a single residual tau^2 shared by all subgroups; differs from the RevMan-style test, which uses a separate tau^2 per subgroup.")
  case
}

## ---- the case grid ----------------------------------------------------------------

cases <- list()
add <- function(x) cases[[length(cases) + 1L]] <<- x

grid_for <- function(ds, measures, with_mh = FALSE, with_peto = FALSE) {
  for (m in measures) {
    add(run_case(ds, m, "IV"))
    if (with_mh) add(run_case(ds, m, "MH"))
    for (meth in RE_METHODS) for (t in TESTS) add(run_case(ds, m, meth, t))
  }
  if (with_peto) {
    add(run_case(ds, "PETO_OR", "PETO"))
    for (meth in RE_METHODS) for (t in TESTS) add(run_case(ds, "PETO_OR", meth, t))
  }
}

message("metafor ", packageVersion("metafor"), "; data from ", DATA_DIR)

## dichotomous: RR, OR, RD x (IV, MH, RE methods x tests) + PETO_OR
for (ld in list(load_bcg, load_li2007, load_hine1989, load_egger2001, load_nielweise2007,
                load_yusuf1985, load_moore1998, function() load_hine1989(1:2))) {
  ds <- ld(); message("  ", ds$key)
  grid_for(ds, c("RR", "OR", "RD"), with_mh = TRUE, with_peto = TRUE)
}

## k = 1: a few methods, to record metafor's behaviour with a single study
ds <- load_hine1989(1); message("  ", ds$key)
for (m in c("RR", "OR", "RD")) { add(run_case(ds, m, "IV")); add(run_case(ds, m, "MH")) }
add(run_case(ds, "PETO_OR", "PETO"))
for (meth in c("DL", "REML", "PM", "SJ")) for (t in TESTS) add(run_case(ds, "RR", meth, t))

## continuous: MD and SMD
for (ld in list(load_normand1999, load_furukawa2003, load_haeuser2009, load_spooner2002,
                load_poole2003)) {
  ds <- ld(); message("  ", ds$key)
  grid_for(ds, c("MD", "SMD"))
}

## generic inverse variance
for (ld in list(load_hackshaw1998, load_greenland1992, load_raudenbush1985, load_steurer2006)) {
  ds <- ld(); message("  ", ds$key)
  grid_for(ds, "GENERIC")
}

## subgroups
message("  subgroups")
ds <- load_bcg()
for (meth in c("IV", "DL")) add(run_subgroup_case(ds, "RR", meth, "alloc"))
ds <- load_spooner2002()
for (meth in c("IV", "DL")) add(run_subgroup_case(ds, "MD", meth, "agegroup"))

## ---- sanity checks -------------------------------------------------------------------

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))
check_expected <- function(e, id) {
  if (is.null(e)) return(invisible())
  if (all(is.na(unlist(e[setdiff(EXPECTED_FIELDS, c("k", "q_df"))]))))
    stop("all-null expectations in ", id)
  if (is.na(e$estimate)) warning("estimate is NA in ", id, call. = FALSE)
  sw <- sum(e$weights, na.rm = TRUE)
  if (abs(sw - 100) > 1e-8) stop("weights sum to ", sw, " in ", id)
}
for (cs in cases) {
  check_expected(cs$expected, cs$id)
  for (s in cs$expected_subgroups) check_expected(s, cs$id)
}

## ---- write JSON ---------------------------------------------------------------------

ref <- list(
  generated_by = "validation/make_metafor_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  generated_on = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  settings = list(
    rma_control = list(threshold = THRESHOLD, tol = TOL, maxiter = MAXITER,
                       threshold_fallbacks = I(THRESHOLD_FALLBACKS)),
    confint_control = list(tol = CI_TOL, type = "QP (Q-profile, confint.rma.uni default)"),
    common_effect_method = EE_METHOD,
    tests = I(TESTS),
    escalc_defaults = "add=1/2, to='only0', drop00=FALSE, vtype='LS'; SMD = Hedges' g with exact bias correction",
    rma_mh_defaults = "add=1/2, to='only0', drop00=TRUE (only for the escalc yi/vi used in Q), correct=TRUE",
    level = 95,
    json_digits = "jsonlite digits=NA (15 significant digits)"
  ),
  n_cases = length(cases),
  cases = cases
)
dir.create(dirname(OUT_FILE), recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                  pretty = TRUE), OUT_FILE, useBytes = TRUE)
message("wrote ", length(cases), " cases to ", OUT_FILE)
message("  cases with a metafor error: ", sum(vapply(cases, function(x) !is.null(x$error), TRUE)),
        "; with a confint() error: ", sum(vapply(cases, function(x) !is.null(x$confint_error), TRUE)),
        "; with warnings: ", sum(vapply(cases, function(x) !is.null(x$warnings), TRUE)),
        "; with a looser Fisher-scoring threshold: ",
        sum(vapply(cases, function(x) !is.null(x$control_note), TRUE)))
if (!HAS_ADHOC) message("  NOTE: this metafor has no test='adhoc'; those cases were skipped")

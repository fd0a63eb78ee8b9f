# Reference values for network meta-analysis (trialsynth.nma), made by R metafor rma.mv.
#
# Data: the network data sets of the metadat package (its own copies, library(metadat)).
# Each study's contrasts are taken against its arm whose treatment comes first in C-locale order,
# effect sizes by metafor's escalc (after adding 0.5 to every cell of every arm of a study with a
# zero cell, netmeta's pairwise() convention), and the covariance of two contrasts sharing that arm
# is the arm's variance (Gleser & Olkin 2009, eq. 19.11; as in the metadat help of
# dat.hasselblad1998); SMD multi-arm covariance by Gleser & Olkin 2009, eq. 19.19-19.20.
# Models: rma.mv(yi, V, mods = X, random = ~ comp | study, rho = 1/2) by REML and ML, and without
# random effects (common effect); node splitting (Dias et al. 2010) and the design-by-treatment
# interaction test (Higgins et al. 2012) as rma.mv fits with extra columns and Wald tests (anova).
# "dl" (netmeta's generalised DerSimonian-Laird tau^2) is NOT metafor output: it is this script's
# transcription of the published formula (Rucker 2012; Rucker & Schwarzer 2014; Jackson et al.
# 2012: all pairwise comparisons with the multi-arm reweighting, hat matrix H, tau^2 =
# (Q - df) / tr((I - H) U W)), followed by rma.mv with tau2 fixed at that value.
# "pscore" is Rucker & Schwarzer 2015's formula applied to metafor's estimates and covariance.
#
# Run: Rscript validation/make_nma_reference.R > tests/reference/nma_metafor_reference.json
suppressMessages({library(metafor); library(metadat); library(jsonlite)})

CTRL <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)  # nlminb, tightened
CTRL2 <- list(optimizer = "bobyqa", rhoend = 1e-14)  # where nlminb stops short of rel.tol
csort <- function(x) sort(unique(x), method = "radix")

# arm-level data -> per study, contrasts against its first arm (treatment order)
prepare <- function(study, trt, measure, x = NULL, n, m = NULL, sd = NULL, ref) {
  trts <- csort(trt)
  study <- as.character(study)
  studies <- unique(study)
  if (measure %in% c("OR", "RR", "RD")) {  # netmeta: 0.5 to every arm of a study with a zero cell
    zero <- tapply(x == 0 | x == n, factor(study, levels = studies), any)
    inc <- ifelse(zero[study], 0.5, 0)
    x <- x + inc; n <- n + 2 * inc
    keep <- if (measure == "RD") rep(TRUE, length(studies)) else
      !(tapply(x - inc == 0, factor(study, levels = studies), all) |
        tapply(x - inc == n - 2 * inc, factor(study, levels = studies), all))
    studies <- studies[keep]
  }
  out <- list()
  for (s in studies) {
    i <- which(study == s)
    i <- i[order(match(trt[i], trts))]
    b <- i[1]; o <- i[-1]
    if (measure %in% c("OR", "RR", "RD")) {
      es <- escalc(measure = measure, ai = x[o], n1i = n[o], ci = rep(x[b], length(o)),
                   n2i = rep(n[b], length(o)), to = "none")
      vb <- switch(measure, OR = 1 / x[b] + 1 / (n[b] - x[b]), RR = 1 / x[b] - 1 / n[b],
                   RD = x[b] * (n[b] - x[b]) / n[b]^3)
      V <- matrix(vb, length(o), length(o)); diag(V) <- es$vi
    } else {
      es <- escalc(measure = measure, m1i = m[o], sd1i = sd[o], n1i = n[o], m2i = rep(m[b], length(o)),
                   sd2i = rep(sd[b], length(o)), n2i = rep(n[b], length(o)))
      if (measure == "MD") {
        V <- matrix(sd[b]^2 / n[b], length(o), length(o)); diag(V) <- es$vi
      } else {  # Gleser & Olkin 2009, eq. 19.19-19.20 with N the study total
        N <- sum(n[i]); g <- as.vector(es$yi)
        V <- 1 / n[b] + outer(g, g) / (2 * N); diag(V) <- 1 / n[o] + 1 / n[b] + g^2 / (2 * N)
      }
    }
    out[[s]] <- list(study = s, arms = trt[i], y = as.vector(es$yi), V = V)
  }
  used <- csort(unlist(lapply(out, `[[`, "arms")))  # treatments of studies left out go too
  list(studies = out, trts = used, ref = ref)
}

stack <- function(p, base = NULL) {
  others <- setdiff(p$trts, p$ref)
  y <- c(); X <- NULL; comp <- c(); st <- c(); Vs <- list()
  for (s in p$studies) {
    a <- s$arms
    for (j in seq_along(a)[-1]) {
      row <- setNames(rep(0, length(others)), others)
      if (a[j] %in% others) row[a[j]] <- row[a[j]] + 1
      if (a[1] %in% others) row[a[1]] <- row[a[1]] - 1
      X <- rbind(X, row); comp <- c(comp, paste(a[j], a[1], sep = " vs "))
      st <- c(st, s$study)
    }
    y <- c(y, s$y); Vs[[length(Vs) + 1]] <- s$V
  }
  rownames(X) <- NULL
  list(y = y, V = bldiag(Vs), X = X, comp = comp, study = st)
}

fit <- function(d, method, tau2 = NULL, mods = d$X) {
  if (method == "FE") return(rma.mv(d$y, d$V, mods = mods, intercept = FALSE))
  if (!is.null(tau2))
    return(rma.mv(d$y, d$V, mods = mods, intercept = FALSE, random = ~ comp | study, rho = 1/2,
                  tau2 = tau2, data = data.frame(comp = d$comp, study = d$study)))
  go <- function(ctrl) rma.mv(d$y, d$V, mods = mods, intercept = FALSE, random = ~ comp | study,
                               rho = 1/2, method = method,
                               data = data.frame(comp = d$comp, study = d$study), control = ctrl)
  tryCatch(go(CTRL), error = function(e) go(CTRL2))
}

summ <- function(r, p) {
  others <- setdiff(p$trts, p$ref)
  b <- setNames(as.vector(coef(r)), others)
  vc <- vcov(r); dimnames(vc) <- list(others, others)
  list(beta = as.list(b), se = as.list(setNames(as.vector(r$se), others)), vcov = vc,
       tau2 = if (is.null(r$tau2) || length(r$tau2) == 0) 0 else r$tau2, QE = r$QE, QEdf = r$k - r$p,
       loglik = as.numeric(logLik(r)), pscore = as.list(pscore(b, vc, p)))
}

pscore <- function(b, vc, p) {  # Rucker & Schwarzer 2015: small values desirable
  d <- setNames(rep(0, length(p$trts)), p$trts); d[names(b)] <- b
  V <- matrix(0, length(p$trts), length(p$trts), dimnames = list(p$trts, p$trts))
  V[names(b), names(b)] <- vc
  sapply(p$trts, function(i) mean(sapply(setdiff(p$trts, i), function(j)
    pnorm((d[j] - d[i]) / sqrt(V[i, i] + V[j, j] - 2 * V[i, j])))))
}

# netmeta's generalised DL, transcribed from Rucker 2012 / Rucker & Schwarzer 2014 / Jackson 2012
dl_tau2 <- function(p) {
  rows <- list()
  for (s in p$studies) {
    a <- s$arms; k <- length(a)
    C <- cbind(-1, diag(k - 1))  # contrasts against the first arm
    Sig <- matrix(0, k, k)
    # pairwise variances R_ij = Var(y_i - y_j) from the contrast covariance
    full <- rbind(0, cbind(0, s$V))
    R <- outer(diag(full), diag(full), "+") - 2 * full
    P <- diag(k) - matrix(1 / k, k, k)
    Lt <- -0.5 * P %*% R %*% P
    L <- MASS::ginv(Lt)
    yy <- c(0, s$y)
    for (i in 1:(k - 1)) for (j in (i + 1):k)
      rows[[length(rows) + 1]] <- list(study = s$study, t1 = a[i], t2 = a[j], y = yy[i] - yy[j],
                                       w = -L[i, j])
  }
  m <- length(rows)
  B <- matrix(0, m, length(p$trts), dimnames = list(NULL, p$trts))
  for (r in seq_len(m)) { B[r, rows[[r]]$t1] <- 1; B[r, rows[[r]]$t2] <- -1 }
  W <- diag(sapply(rows, `[[`, "w")); y <- sapply(rows, `[[`, "y")
  Lap <- t(B) %*% W %*% B
  H <- B %*% MASS::ginv(Lap) %*% t(B) %*% W
  Q <- as.numeric(t(y - H %*% y) %*% W %*% (y - H %*% y))
  st <- sapply(rows, `[[`, "study")
  narms <- sapply(p$studies, function(s) length(s$arms))
  df <- sum(narms - 1) - (length(p$trts) - 1)
  E <- outer(st, st, "==") * 1
  U <- (B %*% t(B) * E) / 2
  list(tau2 = max(0, (Q - df) / sum(diag((diag(m) - H) %*% U %*% W))), Q = Q, df = df)
}

node_split <- function(p, method) {
  out <- list()
  d0 <- stack(p)
  trts <- p$trts
  for (ia in seq_along(trts)) for (ib in seq_along(trts)) {
    if (ib <= ia) next
    a <- trts[ia]; b <- trts[ib]
    has <- sapply(p$studies, function(s) all(c(a, b) %in% s$arms))
    if (!any(has)) next
    q <- p
    ind <- c()
    for (k in seq_along(q$studies)) {
      s <- q$studies[[k]]
      if (has[k] && s$arms[1] != a) {  # contrasts against arm a instead
        arms <- c(a, setdiff(s$arms, a))
        full <- rbind(0, cbind(0, s$V)); yy <- c(0, s$y)
        M <- matrix(0, length(arms) - 1, length(s$arms))
        for (r in seq_along(arms)[-1]) { M[r - 1, match(arms[r], s$arms)] <- 1; M[r - 1, match(a, s$arms)] <- -1 }
        q$studies[[k]] <- list(study = s$study, arms = arms, y = as.vector(M %*% yy),
                               V = M %*% full %*% t(M))
        s <- q$studies[[k]]
      }
      ind <- c(ind, if (has[k]) as.numeric(s$arms[-1] == b) else rep(0, length(s$arms) - 1))
    }
    d <- stack(q)
    mods <- cbind(d$X, split = ind)
    if (qr(mods)$rank < ncol(mods)) next
    r <- fit(d, method, mods = mods)
    others <- setdiff(trts, p$ref)
    cvec <- setNames(rep(0, ncol(mods)), colnames(mods))
    if (b %in% others) cvec[b] <- 1
    if (a %in% others) cvec[a] <- cvec[a] - 1
    vc <- vcov(r)
    ind_est <- sum(cvec * coef(r)); ind_se <- sqrt(as.numeric(t(cvec) %*% vc %*% cvec))
    cdir <- cvec; cdir["split"] <- 1
    out[[length(out) + 1]] <- list(
      comparison = c(b, a), direct = sum(cdir * coef(r)),
      direct_se = sqrt(as.numeric(t(cdir) %*% vc %*% cdir)), indirect = ind_est,
      indirect_se = ind_se, difference = coef(r)[["split"]], difference_se = r$se[ncol(mods)],
      pvalue = r$pval[ncol(mods)], tau2 = if (method == "FE") 0 else r$tau2)
  }
  out
}

dbt <- function(p, method) {
  d <- stack(p)
  designs <- sapply(p$studies, function(s) paste(csort(s$arms), collapse = ":"))
  nrows <- sapply(p$studies, function(s) length(s$arms) - 1)
  cols <- list(); k <- 0
  Xd <- NULL
  for (u in unique(designs)) {
    tr <- strsplit(u, ":", fixed = TRUE)[[1]]
    for (t in tr[-1]) {
      col <- c()
      for (si in seq_along(p$studies)) {
        s <- p$studies[[si]]
        col <- c(col, if (designs[si] == u) as.numeric(s$arms[-1] == t) else rep(0, nrows[si]))
      }
      Xd <- cbind(Xd, col); colnames(Xd)[ncol(Xd)] <- paste0("dbt", ncol(Xd))
    }
  }
  mods <- cbind(d$X, Xd)
  df <- qr(mods)$rank - qr(d$X)$rank
  if (df == 0) return(list(q = NULL, df = 0, pvalue = NULL, tau2 = NULL))
  r <- suppressWarnings(fit(d, method, mods = mods))
  btt <- grep("^dbt", names(coef(r)))
  a <- anova(r, btt = btt)
  list(q = a$QM, df = a$QMdf[1], pvalue = a$QMp, tau2 = if (method == "FE") 0 else r$tau2)
}

case <- function(name, p, measure, arms) {
  message(name)
  d <- stack(p)
  res <- list(name = name, measure = measure, reference = p$ref, treatments = p$trts, arms = arms)
  for (m in c("FE", "REML", "ML")) res[[tolower(m)]] <- summ(fit(d, m), p)
  dl <- dl_tau2(p)
  res$dl <- c(summ(fit(d, "REML", tau2 = dl$tau2), p), list(Q_netmeta_formula = dl$Q, df = dl$df))
  res$dl$tau2 <- dl$tau2
  res$node_split <- list(fe = node_split(p, "FE"), reml = node_split(p, "REML"))
  res$design_by_treatment <- list(fe = dbt(p, "FE"), reml = dbt(p, "REML"))
  res
}

bin <- function(name, data, study, trt, x, n, measure, ref) {
  arms <- data.frame(study = as.character(data[[study]]), treatment = data[[trt]],
                     events = data[[x]], n = data[[n]])
  p <- prepare(arms$study, arms$treatment, measure, x = arms$events, n = arms$n, ref = ref)
  case(name, p, measure, arms)
}
cont <- function(name, arms, measure, ref) {
  p <- prepare(arms$study, arms$treatment, measure, m = arms$mean, sd = arms$sd, n = arms$n, ref = ref)
  case(name, p, measure, arms)
}
wide <- function(d, study, k, y, sd, n, t) {  # wide (one row per study) to arm-level rows
  do.call(rbind, lapply(1:k, function(j) data.frame(
    study = d[[study]], treatment = d[[paste0(t, j)]], mean = d[[paste0(y, j)]],
    sd = d[[paste0(sd, j)]], n = d[[paste0(n, j)]])))
}

senn <- dat.senn2013
senn_arms <- data.frame(study = senn$study, treatment = senn$treatment, mean = senn$mi,
                        sd = senn$sdi, n = senn$ni)
fr <- wide(dat.franchini2012, "Study", 3, "y", "sd", "n", "Treatment")
fr <- fr[!is.na(fr$treatment) & fr$treatment != "", ]
st <- wide(dat.stowe2010, "study", 3, "y", "sd", "n", "t")
st <- st[!is.na(st$treatment) & st$treatment != "", ]
cases <- list(
  bin("hasselblad1998_OR", dat.hasselblad1998, "study", "trt", "xi", "ni", "OR", "no_contact"),
  bin("pagliaro1992_OR", dat.pagliaro1992, "study", "trt", "xi", "ni", "OR", "control"),
  bin("pagliaro1992_RR", dat.pagliaro1992, "study", "trt", "xi", "ni", "RR", "control"),
  bin("pagliaro1992_RD", dat.pagliaro1992, "study", "trt", "xi", "ni", "RD", "control"),
  bin("dong2013_OR", dat.dong2013, "id", "treatment", "death", "randomized", "OR", "Placebo"),
  bin("gurusamy2011_RR", dat.gurusamy2011, "study", "treatment", "death", "n", "RR", "Control/Placebo"),
  bin("baker2009_OR", dat.baker2009, "id", "treatment", "exac", "total", "OR", "Placebo"),
  bin("dogliotti2014_OR", dat.dogliotti2014, "id", "treatment", "stroke", "total", "OR", "Placebo/Control"),
  bin("woods2010_RD", dat.woods2010, "author", "treatment", "r", "N", "RD", "Placebo"),
  cont("senn2013_MD", senn_arms, "MD", "placebo"),
  cont("franchini2012_MD", fr, "MD", "Placebo"),
  cont("franchini2012_SMD", fr, "SMD", "Placebo"),
  cont("stowe2010_MD", st, "MD", "COMTI"))

# multilevel model (several estimates per cluster): rma.mv(yi, vi, random = ~ 1 | district/school)
k11 <- dat.konstantopoulos2011
ml <- lapply(c("REML", "ML"), function(m) {
  r <- tryCatch(rma.mv(yi, vi, random = ~ 1 | district/school, data = k11, method = m, control = CTRL),
                error = function(e) rma.mv(yi, vi, random = ~ 1 | district/school, data = k11,
                                           method = m, control = CTRL2))
  list(method = m, sigma2 = r$sigma2, beta = as.vector(coef(r)), se = as.vector(r$se),
       loglik = as.numeric(logLik(r)))
})
multilevel <- list(data = data.frame(district = k11$district, school = k11$school, yi = k11$yi,
                                     vi = k11$vi), fits = ml)

out <- list(generated_by = "validation/make_nma_reference.R",
            r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            metadat_version = as.character(packageVersion("metadat")),
            control = CTRL, cases = cases, multilevel = multilevel)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = FALSE, matrix = "rowmajor"))

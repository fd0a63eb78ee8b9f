#!/usr/bin/env Rscript
# Reference for tests/test_designs.py, computed in base R (and metafor's escalc) from the published
# formulas, independently of trialsynth:
#  * Cochrane Handbook v5.1 §7.7.3.3 / v6.4 §6.5.2.3: SE of a difference in means from its P
#    value (MD 3.8, P = 0.008, groups of 25 and 22; t with 45 df): SE = MD / t;
#  * Handbook v6.4 §23.1.4: a cluster-randomised trial's effective counts (divided by the design
#    effect 1 + (M - 1) * ICC, unrounded) and its log risk ratio (metafor escalc, measure "RR");
#  * median-based conversions at data entry, transcribed from the papers' equations: mean from
#    the median with the range (Luo et al. 2018, scenario S1), the IQR (S2) or both (S3); SD from
#    the range (Wan et al. 2014, eq. 9), the IQR (Wan 2014, eq. 16), or both (Shi et al. 2020,
#    eq. 11). No worked example of these three papers could be read here: these values check our
#    implementation against a second transcription of the same equations, not against the
#    papers' own numbers.
# The cluster trial and the quantile summaries are CONSTRUCTED for the tests (not real trials).
# Run from the repository root:  Rscript validation/make_designs_checks_reference.R
suppressMessages({library(metafor); library(jsonlite)})

# Handbook §7.7.3.3 / §6.5.2.3 example
t_hb <- qt(1 - 0.008 / 2, 25 + 22 - 2)
p_value <- list(md = 3.8, p = 0.008, n_t = 25, n_c = 22, t = t_hb, se = 3.8 / t_hb)

# Handbook §23.1.4: cluster-randomised trial, M = 12.5, ICC = 0.03
deff <- 1 + (12.5 - 1) * 0.03
eff <- c(ai = 30, n1i = 250, ci = 45, n2i = 260) / deff
es <- escalc("RR", ai = eff[["ai"]], n1i = eff[["n1i"]], ci = eff[["ci"]], n2i = eff[["n2i"]])
cluster <- list(events_t = 30, n_t = 250, events_c = 45, n_c = 260, cluster_size = 12.5,
                icc = 0.03, design_effect = deff, effective = as.list(eff),
                yi = as.numeric(es$yi), vi = as.numeric(es$vi))

# median-based conversions
xi <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))             # Wan 2014, eq. 9
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))      # Wan 2014, eq. 16
luo_s1 <- function(a, m, b, n) { w <- 4 / (4 + n^0.75); w * (a + b) / 2 + (1 - w) * m }
luo_s2 <- function(q1, m, q3, n) { w <- 0.7 + 0.39 / n; w * (q1 + q3) / 2 + (1 - w) * m }
luo_s3 <- function(a, q1, m, q3, b, n) {
  w1 <- 2.2 / (2.2 + n^0.75); w2 <- 0.7 - 0.72 / n^0.55
  w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
}
shi <- function(a, q1, q3, b, n) {                                   # Shi 2020, eq. 11
  theta1 <- (2 + 0.14 * n^0.6) * qnorm((n - 0.375) / (n + 0.25))
  theta2 <- (2 + 2 / (0.07 * n^0.6)) * qnorm((0.75 * n - 0.125) / (n + 0.25))
  (b - a) / theta1 + (q3 - q1) / theta2
}
s <- data.frame(min = c(1, 12, 0.5, 30, 3), q1 = c(4, 20, 2.1, 41, 9),
                median = c(6, 27, 3.4, 47, 15), q3 = c(9, 31, 5.0, 52, 26),
                max = c(15, 44, 12.0, 70, 61), n = c(7, 24, 61, 150, 1000))
summaries <- lapply(seq_len(nrow(s)), function(i) with(s[i, ], list(
  min = min, q1 = q1, median = median, q3 = q3, max = max, n = n,
  mean_range = luo_s1(min, median, max, n), mean_iqr = luo_s2(q1, median, q3, n),
  mean_five = luo_s3(min, q1, median, q3, max, n), sd_range = (max - min) / xi(n),
  sd_iqr = (q3 - q1) / eta(n), sd_five = shi(min, q1, q3, max, n))))

out <- list(generator = "validation/make_designs_checks_reference.R", r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            p_value = p_value, cluster = cluster, summaries = summaries)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/designs_checks_reference.json")

# Reference values for trialsynth.assess.sequential (tests/test_sequential.py), computed independently of
# trialsynth: group-sequential boundaries from multivariate normal probabilities (mvtnorm's
# deterministic Miwa algorithm) instead of recursive integration, solved look by look with uniroot.
# Run from the repository root: Rscript validation/make_sequential_reference.R
suppressPackageStartupMessages(library(mvtnorm))
options(digits = 15)
corr <- function(t) outer(t, t, function(a, b) sqrt(pmin(a, b) / pmax(a, b)))
# Lan-DeMets O'Brien-Fleming-type spending (Lan & DeMets 1983, eq. 3)
spend <- function(t, a) 2 - 2 * pnorm(qnorm(1 - a / 2) / sqrt(pmin(t, 1)))
alg <- Miwa(steps = 4096, checkCorr = FALSE, maxval = 1e3)
pcont <- function(lower, upper, mean, t) {
  if (length(t) == 0) return(1)
  if (length(t) == 1) return(pnorm(upper, mean) - pnorm(lower, mean))
  as.numeric(pmvnorm(lower = lower, upper = upper, mean = mean, corr = corr(t), algorithm = alg))
}
efficacy <- function(t, alpha, sides) {
  s <- spend(t, alpha); b <- numeric(0)
  for (k in seq_along(t)) {
    target <- s[k] - (if (k > 1) s[k - 1] else 0)
    prev <- pcont(if (sides == 2) -b else rep(-Inf, k - 1), b, rep(0, k - 1), t[seq_len(k - 1)])
    f <- function(x) prev - pcont(if (sides == 2) -c(b, x) else rep(-Inf, k), c(b, x),
                                  rep(0, k), t[1:k]) - target
    b <- c(b, uniroot(f, c(0.5, 20), tol = 1e-13)$root)
  }
  b
}
futility <- function(t, b, alpha, beta) {
  drift <- qnorm(1 - alpha / 2) + qnorm(1 - beta)
  s <- spend(t, beta); a <- numeric(0)
  for (k in seq_along(t)) {
    target <- s[k] - (if (k > 1) s[k - 1] else 0)
    m <- drift * sqrt(t[1:k])
    lo <- pmax(a, -Inf); lo[!is.finite(lo)] <- -Inf
    # P(continue through k - 1 between a_j and b_j, then Z_k < x)
    f <- function(x) pcont(c(lo, -Inf), c(b[seq_len(k - 1)], x), m, t[1:k]) - target
    if (f(-8) > 0) { a <- c(a, -Inf); next }
    a <- c(a, uniroot(f, c(-8, b[k]), tol = 1e-13)$root)
  }
  a
}
cases <- list(
  list(t = c(0.25, 0.5, 0.75, 1), alpha = 0.05, sides = 1),
  list(t = c(0.5, 1), alpha = 0.05, sides = 2),
  list(t = c(1, 2, 3, 4, 5) / 5, alpha = 0.05, sides = 2),
  list(t = c(0.1, 0.23, 0.41, 0.66, 0.8), alpha = 0.05, sides = 2),
  list(t = c(0.3, 0.6, 0.9), alpha = 0.01, sides = 2)
)
out <- lapply(cases, function(cs) {
  b <- efficacy(cs$t, cs$alpha, cs$sides)
  res <- list(t = cs$t, alpha = cs$alpha, sides = cs$sides, upper = b)
  if (cs$sides == 2) {
    a <- futility(cs$t, b, cs$alpha, 0.1)
    res$beta <- 0.1
    res$futility <- ifelse(is.finite(a) & a > 0, a, NA)
  }
  res
})
json <- paste0("{\n \"generator\": \"validation/make_sequential_reference.R (R ",
               paste(R.version$major, R.version$minor, sep = "."), ", mvtnorm ",
               as.character(packageVersion("mvtnorm")), ", Miwa algorithm, uniroot tol 1e-13)\",\n",
               " \"cases\": [\n", paste(sapply(out, function(r) {
  num <- function(v) paste0("[", paste(ifelse(is.na(v), "null", formatC(v, digits = 15, format = "g")),
                                       collapse = ", "), "]")
  paste0("  {\"t\": ", num(r$t), ", \"alpha\": ", r$alpha, ", \"sides\": ", r$sides,
         ", \"upper\": ", num(r$upper),
         if (!is.null(r$futility)) paste0(", \"beta\": ", r$beta, ", \"futility\": ", num(r$futility)) else "",
         "}")
}), collapse = ",\n"), "\n ]\n}\n")
dir.create("tests/reference", showWarnings = FALSE)
writeLines(json, "tests/reference/sequential_reference.json", sep = "")
cat(json)

# Reference values for trialsynth.assess.sequential's information sizes (tests/test_sequential.py),
# computed with R and metafor, independently of trialsynth:
# * diversity D2 = (v_R - v_F)/v_R (Wetterslev et al. 2009, eq. 5) from metafor's DL random-effects
#   and common-effect variances of the pooled estimate (BCG data, log RR; dat.bcg, metadat);
# * the fixed-effect RIS 4 (z_{1-a/2} + z_{1-b})^2 nu / theta^2 (Wetterslev et al. 2008, eq. 1),
#   binary nu = pbar (1 - pbar), theta = pC - pI; continuous nu = sigma^2.
# Run from the repository root: Rscript validation/make_tsa_reference.R
suppressPackageStartupMessages({library(metafor); library(metadat)})
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
re <- rma(yi, vi, data = dat, method = "DL")
fe <- rma(yi, vi, data = dat, method = "FE")
d2 <- (re$se^2 - fe$se^2) / re$se^2
ris_bin <- function(pc, rrr, a, pw) { pi <- pc * (1 - rrr); pb <- (pc + pi) / 2
  4 * (qnorm(1 - a / 2) + qnorm(pw))^2 * pb * (1 - pb) / (pc - pi)^2 }
ris_cont <- function(md, sd, a, pw) 4 * (qnorm(1 - a / 2) + qnorm(pw))^2 * sd^2 / md^2
bin <- expand.grid(pc = c(0.1, 0.3), rrr = c(0.2, 0.1), alpha = c(0.05, 0.01), power = c(0.8, 0.9))
bin$ris <- with(bin, ris_bin(pc, rrr, alpha, power))
cont <- data.frame(md = c(10, 0.5, 2), sd = c(25, 1, 3), alpha = c(0.05, 0.05, 0.01),
                   power = c(0.9, 0.8, 0.9))
cont$ris <- with(cont, ris_cont(md, sd, alpha, power))
num <- function(v) paste0("[", paste(formatC(v, digits = 16, format = "g"), collapse = ", "), "]")
json <- paste0('{\n "generator": "validation/make_tsa_reference.R (R ',
  paste(R.version$major, R.version$minor, sep = "."), ', metafor ', packageVersion("metafor"), ')",\n',
  ' "bcg": {"yi": ', num(dat$yi), ', "vi": ', num(dat$vi), ', "tau2_dl": ', num(re$tau2),
  ', "se_random": ', num(re$se), ', "se_common": ', num(fe$se), ', "d2": ', num(d2), '},\n',
  ' "ris_binary": {"control_risk": ', num(bin$pc), ', "rrr": ', num(bin$rrr), ', "alpha": ', num(bin$alpha),
  ', "power": ', num(bin$power), ', "ris": ', num(bin$ris), '},\n',
  ' "ris_continuous": {"md": ', num(cont$md), ', "sd": ', num(cont$sd), ', "alpha": ', num(cont$alpha),
  ', "power": ', num(cont$power), ', "ris": ', num(cont$ris), '}\n}\n')
writeLines(json, "tests/reference/tsa_reference.json", sep = "")
cat(json)

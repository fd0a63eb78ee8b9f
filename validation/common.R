## ---------------------------------------------------------------------------
## validation/common.R: what the reference generators share: R metafor and jsonlite,
## loaded quietly, and where the repository and the shared data are, whichever
## folder a generator is run from. Each generator starts with
##
##   HERE <- local({f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
##                  if (length(f) == 1L) dirname(normalizePath(f)) else normalizePath("validation")})
##   source(file.path(HERE, "common.R"))
##
## (the folder of the script Rscript runs; "validation" when sourced from the
## repository root) and then has:
##   REPO_ROOT    the repository
##   SHARED       <repo>/../shared/data (PROVENANCE.md there describes every file)
##   DATA_DIR     SHARED/metadat
##   read_metadat(name)   SHARED/metadat/<name>.csv as a data frame
##   reference_file(name) <repo>/tests/reference/<name>, where the outputs go
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

REPO_ROOT <- normalizePath(file.path(HERE, ".."))
SHARED <- normalizePath(file.path(REPO_ROOT, "..", "shared", "data"), mustWork = TRUE)
DATA_DIR <- file.path(SHARED, "metadat")

read_metadat <- function(name) {
  read.csv(file.path(DATA_DIR, paste0(name, ".csv")), stringsAsFactors = FALSE,
           check.names = FALSE, encoding = "UTF-8")
}

reference_file <- function(name) file.path(REPO_ROOT, "tests", "reference", name)

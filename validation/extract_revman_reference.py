#!/usr/bin/env python3
"""Extract RevMan's own stored results into a JSON test fixture.

Reads, from the shared data folder (default ``../shared/data`` beside the repository; override with
``--data-dir`` or the ``TRIALSYNTH_DATA`` environment variable):

* RevMan 5 XML files ``cochrane-rm5/*.rm5`` (``*.rm5.gz`` accepted) and
  ``meta-fleiss1993/Fleiss1993.rm5``;
* the RevMan 5 "analysis data" CSV export ``meta-fleiss1993/Fleiss1993_CR.csv``;
* the RevMan Web data package ``meta-fleiss1993/revman-web-export/`` (data rows,
  overall estimates and settings, subgroup estimates).

For every analysis (outcome) that has study data it writes the analysis settings exactly
as RevMan stored them, the per-study input data in trialsynth column names, RevMan's
stored per-study effect / CI / weight, and RevMan's stored pooled results (overall, per
subgroup, and the test for subgroup differences).  Nothing is recomputed: every number in
the output is either an input datum or a value as stored by RevMan.

XML is parsed with ``defusedxml`` only.  Nothing from the rm5 ``COVER_SHEET`` is copied
except the review title; no person, contact, ``MODIFIED_BY`` or date attributes are kept.

Usage::

    python validation/extract_revman_reference.py [--data-dir DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as DET

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TRIALSYNTH_DATA", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_OUT = REPO_ROOT / "tests" / "reference" / "revman_stored.json"
SIZE_LIMIT = 10 * 1024 * 1024

# rm5 sources: (source_id, relative path).  The review id is the source id.
RM5_SOURCES = [
    ("CD000023", "cochrane-rm5/CD000023StatsDataOnly.rm5"),
    ("CD008625", "cochrane-rm5/CD008625StatsDataOnly.rm5"),
    ("CD011564", "cochrane-rm5/CD011564StatsDataOnly.rm5"),
    ("CD012859", "cochrane-rm5/CD012859StatsDataOnly.rm5.gz"),
    ("Fleiss1993", "meta-fleiss1993/Fleiss1993.rm5"),
]
RM5_CSV_SOURCE = ("Fleiss1993-rm5csv", "meta-fleiss1993/Fleiss1993_CR.csv")
WEB_SOURCE = ("Fleiss1993-revmanweb", "meta-fleiss1993/revman-web-export")

DATA_TYPES = {"DICH": "dichotomous", "CONT": "continuous", "IV": "generic_iv", "OE": "o_e"}

# Attributes of *_OUTCOME elements that are results, not settings.
RESULT_ATTRS = {
    "CHI2",
    "CI_END",
    "CI_START",
    "DF",
    "EFFECT_SIZE",
    "EVENTS_1",
    "EVENTS_2",
    "I2",
    "I2_Q",
    "LOG_CI_END",
    "LOG_CI_START",
    "LOG_EFFECT_SIZE",
    "P_CHI2",
    "P_Q",
    "P_Z",
    "Q",
    "STUDIES",
    "TAU2",
    "TOTAL_1",
    "TOTAL_2",
    "WEIGHT",
    "Z",
}
# Attributes never copied (person / bookkeeping data).
DROP_ATTRS = {"MODIFIED", "MODIFIED_BY"}

# rm5 attribute -> canonical key of a stored pooled result.
RM5_POOLED_KEYS = {
    "EFFECT_SIZE": "effect",
    "CI_START": "ci_start",
    "CI_END": "ci_end",
    "LOG_EFFECT_SIZE": "log10_effect",
    "LOG_CI_START": "log10_ci_start",
    "LOG_CI_END": "log10_ci_end",
    "TAU2": "tau2",
    "CHI2": "chi2",
    "DF": "df",
    "P_CHI2": "p_chi2",
    "I2": "i2",
    "Z": "z",
    "P_Z": "p_z",
    "WEIGHT": "weight",
    "STUDIES": "studies",
    "EVENTS_1": "events_t",
    "TOTAL_1": "n_t",
    "EVENTS_2": "events_c",
    "TOTAL_2": "n_c",
    "ESTIMABLE": "estimable",
}
RM5_SUBGROUP_TEST_KEYS = {"Q": "chi2", "P_Q": "p", "I2_Q": "i2"}
# rm5 *_DATA attribute -> canonical key of a stored per-study result.
RM5_STUDY_RESULT_KEYS = {
    "EFFECT_SIZE": "effect",
    "CI_START": "ci_start",
    "CI_END": "ci_end",
    "SE": "se",
    "VAR": "var",
    "O_E": "o_e",
    "WEIGHT": "weight",
    "LOG_EFFECT_SIZE": "log10_effect",
    "LOG_CI_START": "log10_ci_start",
    "LOG_CI_END": "log10_ci_end",
    "ESTIMABLE": "estimable",
}
# rm5 *_DATA attribute -> trialsynth input column, by data type.
RM5_INPUT_KEYS = {
    "dichotomous": {"EVENTS_1": "events_t", "TOTAL_1": "n_t", "EVENTS_2": "events_c", "TOTAL_2": "n_c"},
    "continuous": {
        "MEAN_1": "mean_t",
        "SD_1": "sd_t",
        "TOTAL_1": "n_t",
        "MEAN_2": "mean_c",
        "SD_2": "sd_c",
        "TOTAL_2": "n_c",
    },
    "generic_iv": {"ESTIMATE": "yi", "SE": "se", "TOTAL_1": "n_t", "TOTAL_2": "n_c"},
    "o_e": {"O_E": "o_e", "VAR": "var", "TOTAL_1": "n_t", "TOTAL_2": "n_c"},
}
COUNT_KEYS = {"events_t", "n_t", "events_c", "n_c", "studies", "df", "order"}

CSV_POOLED_KEYS = {
    "Effect Estimate": "effect",
    "SE": "se",
    "CI Start": "ci_start",
    "CI End": "ci_end",
    "Weight": "weight",
    "Q": "chi2",
    "P(Q)": "p_chi2",
    "I²(Q)": "i2",
    "Tau²": "tau2",
    "Z": "z",
    "P(Z)": "p_z",
    "df": "df",
    "Events 1": "events_t",
    "Total 1": "n_t",
    "Events 2": "events_c",
    "Total 2": "n_c",
}
CSV_SUBGROUP_TEST_KEYS = {"Qint": "chi2", "P(Qint)": "p", "I²(Qint)": "i2"}
CSV_STUDY_RESULT_KEYS = {
    "Effect Estimate": "effect",
    "SE": "se",
    "CI Start": "ci_start",
    "CI End": "ci_end",
    "Weight": "weight",
}
CSV_INPUT_KEYS = {
    "dichotomous": {"Events 1": "events_t", "Total 1": "n_t", "Events 2": "events_c", "Total 2": "n_c"},
    "continuous": {
        "Mean 1": "mean_t",
        "SD 1": "sd_t",
        "Total 1": "n_t",
        "Mean 2": "mean_c",
        "SD 2": "sd_c",
        "Total 2": "n_c",
    },
}
CSV_DATA_TYPES = {
    "DIC": "dichotomous",
    "CON": "continuous",
    "IV": "generic_iv",
    "GIV": "generic_iv",
    "OE": "o_e",
    "O-E": "o_e",
}

WEB_POOLED_KEYS = {
    "Experimental cases": "events_t",
    "Experimental N": "n_t",
    "Control cases": "events_c",
    "Control N": "n_c",
    "Mean": "effect",
    "CI start": "ci_start",
    "CI end": "ci_end",
    "Heterogeneity Tau²": "tau2",
    "Heterogeneity Chi²": "chi2",
    "Heterogeneity df": "df",
    "Heterogeneity P": "p_chi2",
    "Heterogeneity I²": "i2",
    "Effect Z": "z",
    "Effect P": "p_z",
    "Weight": "weight",
}
WEB_SUBGROUP_TEST_KEYS = {
    "Subgroup Chi²": "chi2",
    "Subgroup df": "df",
    "Subgroup P": "p",
    "Subgroup I²": "i2",
}
WEB_STUDY_RESULT_KEYS = {
    "Mean": "effect",
    "CI start": "ci_start",
    "CI end": "ci_end",
    "Weight": "weight",
    "O-E": "o_e",
    "Variance": "var",
}
WEB_INPUT_KEYS = {
    "dichotomous": {
        "Experimental cases": "events_t",
        "Experimental N": "n_t",
        "Control cases": "events_c",
        "Control N": "n_c",
    },
    "continuous": {
        "Experimental mean": "mean_t",
        "Experimental SD": "sd_t",
        "Experimental N": "n_t",
        "Control mean": "mean_c",
        "Control SD": "sd_c",
        "Control N": "n_c",
    },
    "generic_iv": {"GIV Mean": "yi", "GIV SE": "se", "Experimental N": "n_t", "Control N": "n_c"},
    "o_e": {"O-E": "o_e", "Variance": "var", "Experimental N": "n_t", "Control N": "n_c"},
}
WEB_DATA_TYPES = {
    "dichotomous": "dichotomous",
    "continuous": "continuous",
    "generic inverse variance": "generic_iv",
    "o-e": "o_e",
    "o-e and variance": "o_e",
}

RATIO_MEASURES_RM5 = {"RR", "OR", "PETO_OR", "PETO"}
# Effect-measure labels (RevMan Web / RevMan 5 CSV) -> RevMan 5 attribute codes.
MEASURE_CODES = {
    "odds ratio": "OR",
    "risk ratio": "RR",
    "risk difference": "RD",
    "mean difference": "MD",
    "standardized mean difference": "SMD",
    "standardised mean difference": "SMD",
    "peto odds ratio": "PETO_OR",
    "hazard ratio": "HR",
}
KNOWN_CODES = {"OR", "RR", "RD", "MD", "SMD", "PETO_OR", "HR"}


# --------------------------------------------------------------------------- helpers
def num(raw: str | None, key: str = "") -> Any:
    """Parse a stored number.  Non-finite values are kept as RevMan wrote them."""
    if raw is None:
        return None
    s = raw.strip().lstrip("\ufeff")
    if s == "" or s.upper() == "#N/A":
        return None
    if s in ("YES", "NO"):
        return s == "YES"
    if s.endswith("%"):
        s = s[:-1]
    try:
        v = float(s)
    except ValueError:
        return raw
    if not math.isfinite(v):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(v)]
    if key in COUNT_KEYS and v.is_integer():
        return int(v)
    return v


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*.csv")):
            h.update(p.relative_to(path).as_posix().encode())
            h.update(p.read_bytes())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def read_bytes_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def clean_attrs(attrs: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(attrs.items()) if k not in DROP_ATTRS}


def text_of(el) -> str | None:
    if el is None:
        return None
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def ratio_note(data_type: str, measure: str | None, log_data: bool | None) -> dict[str, Any]:
    """How to read the effect scale of an analysis."""
    if data_type == "generic_iv":
        is_ratio = bool(log_data)
        return {
            "ratio_measure": is_ratio,
            "input_yi_scale": "natural log" if is_ratio else "identity",
            "stored_effect_scale": "ratio (exp of pooled log value)" if is_ratio else "identity",
        }
    if data_type == "o_e":
        return {
            "ratio_measure": True,
            "input_yi_scale": None,
            "stored_effect_scale": "ratio (Peto odds ratio / hazard ratio)",
        }
    m = (measure or "").upper()
    is_ratio = m in RATIO_MEASURES_RM5 or "RATIO" in m
    return {
        "ratio_measure": is_ratio,
        "input_yi_scale": None,
        "stored_effect_scale": "ratio" if is_ratio else "identity",
        "stored_study_se_scale": "natural log" if is_ratio else "identity",
    }


def normalise_settings(method, measure, random, ci_study, ci_total) -> dict[str, Any]:
    code = None
    if measure:
        code = measure if measure in KNOWN_CODES else MEASURE_CODES.get(measure.strip().lower())
    return {
        "method": method,
        "effect_measure": measure,
        "effect_measure_code": code,
        "model": None if random is None else ("random" if random else "fixed"),
        "ci_level_study": None if ci_study is None else float(ci_study) / 100.0,
        "ci_level_total": None if ci_total is None else float(ci_total) / 100.0,
    }


# --------------------------------------------------------------------------- rm5
def parse_rm5(source_id: str, rel: str, data_dir: Path):
    path = data_dir / rel
    root = DET.fromstring(read_bytes_maybe_gz(path))
    title_el = root.find("./COVER_SHEET/TITLE")  # the only COVER_SHEET item copied
    title = text_of(title_el) or ""
    cite = re.search(r"quote\s+\"([^\"]+)\"", title)
    clean_title = re.sub(r"\s*\[Data only\..*\]\s*$", "", title).strip()
    source = {
        "source_id": source_id,
        "review_id": source_id,
        "file": rel,
        "format": "RevMan 5 XML (.rm5)" + (", gzip-compressed" if rel.endswith(".gz") else ""),
        "review_title": clean_title,
        "citation_note": cite.group(1) if cite else None,
        "doi": root.get("DOI") or None,
        "revman_version": root.get("REVMAN_VERSION"),
        "revman_sub_version": root.get("REVMAN_SUB_VERSION"),
        "sha256": sha256(path),
    }
    studies = {}
    for st in root.iter("STUDY"):
        if st.get("ID") and st.get("NAME") is not None:
            studies[st.get("ID")] = {"name": st.get("NAME"), "year": st.get("YEAR")}

    analyses, skipped = [], []
    aad = root.find("ANALYSES_AND_DATA")
    for cmp_el in aad.findall("COMPARISON"):
        cmp_no = cmp_el.get("NO")
        cmp_name = text_of(cmp_el.find("NAME"))
        for out_el in cmp_el:
            m = re.fullmatch(r"(DICH|CONT|IV|OE|IPD)_OUTCOME", out_el.tag)
            if not m:
                continue
            prefix = m.group(1)
            out_no = out_el.get("NO")
            aid = f"{source_id}:{cmp_no}.{out_no}"
            name = text_of(out_el.find("NAME"))
            if prefix not in DATA_TYPES:
                skipped.append(
                    {"analysis_id": aid, "name": name, "reason": f"{prefix} outcomes not supported"}
                )
                continue
            dtype = DATA_TYPES[prefix]
            data_tag, sub_tag = f"{prefix}_DATA", f"{prefix}_SUBGROUP"
            rows = []
            subgroups = []
            blocks = [(None, out_el)]
            for sg in out_el.findall(sub_tag):
                blocks.append((sg, sg))
            for sg, holder in blocks:
                sg_name = text_of(sg.find("NAME")) if sg is not None else None
                sg_no = int(sg.get("NO")) if sg is not None else None
                for d in holder.findall(data_tag):
                    rows.append(study_row_rm5(d, dtype, studies, sg_name, sg_no))
                if sg is not None:
                    subgroups.append(
                        {
                            "subgroup_no": sg_no,
                            "subgroup": sg_name,
                            "xml_id": sg.get("ID"),
                            **pooled_rm5(sg.attrib),
                        }
                    )
            if not rows:
                skipped.append({"analysis_id": aid, "name": name, "reason": "no study data"})
                continue
            raw = clean_attrs({k: v for k, v in out_el.attrib.items() if k not in RESULT_ATTRS})
            for child in (
                "GROUP_LABEL_1",
                "GROUP_LABEL_2",
                "GRAPH_LABEL_1",
                "GRAPH_LABEL_2",
                "EFFECT_MEASURE",
            ):
                t = text_of(out_el.find(child))
                if t is not None:
                    raw[f"<{child}>"] = t
            log_data = {"YES": True, "NO": False}.get(out_el.get("LOG_DATA", ""), None)
            measure = out_el.get("EFFECT_MEASURE") or raw.get("<EFFECT_MEASURE>")
            method = out_el.get("METHOD") or ("IV" if prefix in ("CONT", "IV") else None)
            random = {"YES": True, "NO": False}.get(out_el.get("RANDOM", ""), None)
            norm = normalise_settings(method, measure, random, out_el.get("CI_STUDY"), out_el.get("CI_TOTAL"))
            if method is not None and out_el.get("METHOD") is None:
                norm["method_note"] = "no METHOD attribute; RevMan 5 pools this type by IV"
            analyses.append(
                {
                    "analysis_id": aid,
                    "source_id": source_id,
                    "source_format": "rm5",
                    "xml_id": out_el.get("ID"),
                    "comparison_no": int(cmp_no),
                    "comparison_name": cmp_name,
                    "outcome_no": int(out_no),
                    "name": name,
                    "data_type": dtype,
                    "settings_raw": raw,
                    "settings": norm,
                    "scale": ratio_note(dtype, measure, log_data),
                    "has_subgroups": bool(subgroups),
                    "studies": rows,
                    "pooled": {
                        "overall": pooled_rm5(out_el.attrib),
                        "subgroups": subgroups,
                        "subgroup_test": {
                            v: num(out_el.get(k), v)
                            for k, v in RM5_SUBGROUP_TEST_KEYS.items()
                            if out_el.get(k) is not None
                        }
                        or None,
                    },
                }
            )
    return source, analyses, skipped


def pooled_rm5(attrs) -> dict[str, Any]:
    return {v: num(attrs.get(k), v) for k, v in RM5_POOLED_KEYS.items() if attrs.get(k) is not None}


def study_row_rm5(d, dtype, studies, sg_name, sg_no) -> dict[str, Any]:
    sid = d.get("STUDY_ID")
    info = studies.get(sid, {})
    row: dict[str, Any] = {"study": info.get("name", sid), "study_id": sid, "year": info.get("year")}
    if sg_name is not None:
        row["subgroup"] = sg_name
        row["subgroup_no"] = sg_no
    for k, v in RM5_INPUT_KEYS[dtype].items():
        if d.get(k) is not None:
            row[v] = num(d.get(k), v)
    row["revman"] = {v: num(d.get(k), v) for k, v in RM5_STUDY_RESULT_KEYS.items() if d.get(k) is not None}
    if d.get("ORDER") is not None:
        row["revman"]["order"] = num(d.get("ORDER"), "order")
    return row


# --------------------------------------------------------------------------- RevMan 5 CSV
def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def parse_rm5_csv(source_id: str, rel: str, data_dir: Path, review_title: str | None):
    path = data_dir / rel
    rows = read_csv(path)
    source = {
        "source_id": source_id,
        "review_id": "Fleiss1993",
        "file": rel,
        "format": "RevMan 5 analysis-data CSV export (with pooled rows)",
        "review_title": review_title,
        "sha256": sha256(path),
    }
    analyses, comparisons, current, current_sg = [], {}, None, None
    for r in rows:
        cmp_no, out_no, sg_no = (
            int(r["Comparison Number"]),
            int(r["Outcome Number"]),
            int(r["Subgroup Number"]),
        )
        is_study = bool((r.get("User defined order") or "").strip() or (r.get("Year of study") or "").strip())
        if out_no == 0:
            comparisons[cmp_no] = r["Name"]
            continue
        if r.get("Data Type"):
            dtype = CSV_DATA_TYPES.get(r["Data Type"].strip().upper(), r["Data Type"])
            raw = {
                k: r[k]
                for k in (
                    "Data Type",
                    "Statistical Method",
                    "Effect Measure",
                    "Analysis Model",
                    "Group Label 1",
                    "Group Label 2",
                    "Left Graph Label",
                    "Right Graph Label",
                )
            }
            random = {"Random": True, "Fixed": False}.get(r["Analysis Model"].strip())
            current = {
                "analysis_id": f"{source_id}:{cmp_no}.{out_no}",
                "source_id": source_id,
                "source_format": "rm5_csv",
                "comparison_no": cmp_no,
                "comparison_name": comparisons.get(cmp_no),
                "outcome_no": out_no,
                "name": r["Name"],
                "data_type": dtype,
                "settings_raw": raw,
                "settings": normalise_settings(
                    r["Statistical Method"] or None, r["Effect Measure"] or None, random, None, None
                ),
                "scale": ratio_note(dtype, r["Effect Measure"], None),
                "has_subgroups": False,
                "studies": [],
                "pooled": {
                    "overall": {
                        v: num(r.get(k), v)
                        for k, v in CSV_POOLED_KEYS.items()
                        if (r.get(k) or "").strip() != ""
                    },
                    "subgroups": [],
                    "subgroup_test": {
                        v: num(r.get(k), v)
                        for k, v in CSV_SUBGROUP_TEST_KEYS.items()
                        if (r.get(k) or "").strip() != ""
                    }
                    or None,
                },
            }
            current["settings"]["ci_note"] = "CI level not stated in this export"
            analyses.append(current)
            current_sg = None
            continue
        if current is None:
            continue
        if sg_no > 0 and not is_study:
            current_sg = {
                "subgroup_no": sg_no,
                "subgroup": r["Name"],
                **{v: num(r.get(k), v) for k, v in CSV_POOLED_KEYS.items() if (r.get(k) or "").strip() != ""},
            }
            current["pooled"]["subgroups"].append(current_sg)
            current["has_subgroups"] = True
            continue
        dtype = current["data_type"]
        row: dict[str, Any] = {"study": r["Name"], "year": r.get("Year of study") or None}
        if sg_no > 0:
            row["subgroup"] = current_sg["subgroup"] if current_sg else None
            row["subgroup_no"] = sg_no
        for k, v in CSV_INPUT_KEYS.get(dtype, {}).items():
            row[v] = num(r.get(k), v)
        row["revman"] = {
            v: num(r.get(k), v) for k, v in CSV_STUDY_RESULT_KEYS.items() if (r.get(k) or "").strip() != ""
        }
        current["studies"].append(row)
    return source, [a for a in analyses if a["studies"]]


# --------------------------------------------------------------------------- RevMan Web
def parse_web(source_id: str, rel: str, data_dir: Path):
    folder = data_dir / rel
    data_rows = read_csv(next(folder.rglob("*-data-rows.csv")))
    overall = read_csv(next(folder.rglob("*-overall-estimates-and-settings.csv")))
    subg = read_csv(next(folder.rglob("*-subgroup-estimates.csv")))
    source = {
        "source_id": source_id,
        "review_id": "Fleiss1993",
        "file": rel + "/ (*-data-rows.csv, *-overall-estimates-and-settings.csv, *-subgroup-estimates.csv)",
        "format": "RevMan Web analysis-data package (CSV)",
        "review_title": None,
        "sha256": sha256(folder),
    }
    setting_cols = [
        "Analysis group name",
        "Data source",
        "Data source eligibility",
        "Data type",
        "Log-scale data",
        "Outcome",
        "Intervention grouping",
        "Experimental intervention",
        "Control intervention",
        "Subgroup by",
        "Filter criteria",
        "Experimental group label",
        "Control group label",
        "Statistical method",
        "Effect measure",
        "Unit of effect measure",
        "Analysis model",
        "Subgroup estimates",
        "Overall estimates",
        "Test for subgroup differences",
        "Swap event and non-event",
        "Study CI",
        "Estimate CI",
        "ID",
    ]
    # Optional columns newer RevMan Web exports may carry (kept raw if present).
    extra_setting_pat = re.compile(
        r"(?i)(tau|heterogeneity estimator|prediction|"
        r"hartung|knapp|confidence interval method|method)"
    )
    analyses = []
    for r in overall:
        g, n = int(r["Analysis group"]), int(r["Analysis number"])
        raw = {k: r[k] for k in setting_cols if k in r}
        for k in r:
            if k not in raw and extra_setting_pat.search(k) and k not in WEB_POOLED_KEYS:
                raw[k] = r[k]
        dtype = WEB_DATA_TYPES.get(r["Data type"].strip().lower(), r["Data type"])
        log_data = {"true": True, "false": False}.get(r.get("Log-scale data", "").lower())
        random = {
            "Random effects": True,
            "Random-effects": True,
            "Fixed effect": False,
            "Fixed-effect": False,
        }.get(r["Analysis model"].strip())
        ci = lambda s: None if not s else s.rstrip("%")  # noqa: E731
        a = {
            "analysis_id": f"{source_id}:{g}.{n}",
            "source_id": source_id,
            "source_format": "revman_web",
            "comparison_no": g,
            "comparison_name": r.get("Analysis group name"),
            "outcome_no": n,
            "name": r["Analysis name"],
            "data_type": dtype,
            "settings_raw": raw,
            "settings": normalise_settings(
                r["Statistical method"] or None,
                r["Effect measure"] or None,
                random,
                ci(r.get("Study CI")),
                ci(r.get("Estimate CI")),
            ),
            "scale": {
                "ratio_measure": "ratio" in r["Effect measure"].lower(),
                "input_yi_scale": ("natural log" if log_data and dtype == "generic_iv" else None),
                "log_scale_data_flag": log_data,
            },
            "has_subgroups": False,
            "studies": [],
            "pooled": {
                "overall": {
                    v: num(r.get(k), v) for k, v in WEB_POOLED_KEYS.items() if (r.get(k) or "").strip() != ""
                },
                "subgroups": [],
                "subgroup_test": {
                    v: num(r.get(k), v)
                    for k, v in WEB_SUBGROUP_TEST_KEYS.items()
                    if (r.get(k) or "").strip() != ""
                }
                or None,
            },
        }
        for k in r:  # keep prediction-interval columns if the export has them
            if re.search(r"(?i)predict", k) and (r[k] or "").strip() != "":
                a["pooled"]["overall"]["raw:" + k] = num(r[k])
        analyses.append(a)
    by_key = {(a["comparison_no"], a["outcome_no"]): a for a in analyses}
    for r in subg:
        a = by_key.get((int(r["Analysis group"]), int(r["Analysis number"])))
        if a is None:
            continue
        a["has_subgroups"] = True
        a["pooled"]["subgroups"].append(
            {
                "subgroup_no": num(r.get("Subgroup number")),
                "subgroup": r.get("Subgroup"),
                **{v: num(r.get(k), v) for k, v in WEB_POOLED_KEYS.items() if (r.get(k) or "").strip() != ""},
            }
        )
    for r in data_rows:
        a = by_key.get((int(r["Analysis group"]), int(r["Analysis number"])))
        if a is None:
            continue
        dtype = a["data_type"]
        row: dict[str, Any] = {"study": r["Study"], "year": r.get("Study year") or None}
        if (r.get("Subgroup") or "").strip():
            row["subgroup"] = r["Subgroup"]
            if r.get("Subgroup number"):
                row["subgroup_no"] = num(r["Subgroup number"])
        row["applicability"] = r.get("Applicability")
        for k, v in WEB_INPUT_KEYS.get(dtype, {}).items():
            row[v] = num(r.get(k), v)
        row["revman"] = {
            v: num(r.get(k), v) for k, v in WEB_STUDY_RESULT_KEYS.items() if (r.get(k) or "").strip() != ""
        }
        a["studies"].append(row)
    return source, [a for a in analyses if a["studies"]]


# --------------------------------------------------------------------------- main
HEADER_TEXT = {
    "title": "RevMan stored reference results for trialsynth validation",
    "statement": (
        "Values as stored by RevMan. Every number below is either a study input datum or a "
        "result RevMan itself computed and saved in the source file; nothing was recomputed "
        "by trialsynth. Cochrane data: published review data ('Data only' exports), "
        "(c) The Cochrane Collaboration; cite the review. Fleiss 1993 example files come from "
        "the R package meta (guido-s/meta, inst/extdata, GPL>=2). No COVER_SHEET content "
        "other than review titles, and no person or contact data, is included."
    ),
    "generated_by": "validation/extract_revman_reference.py",
    "conventions": {
        "group_1": "experimental arm -> *_t columns; group 2: control arm -> *_c columns",
        "effect/ci_start/ci_end": (
            "RevMan's displayed scale: ratio measures (RR, OR, Peto "
            "OR, GIV with LOG_DATA=YES, HR) are on the ratio scale, "
            "not logged"
        ),
        "log10_*": "rm5 LOG_EFFECT_SIZE / LOG_CI_* attributes are base-10 logarithms",
        "se/var (per study, rm5)": (
            "standard error / variance of the study effect on the "
            "analysis scale: natural-log scale for ratio measures"
        ),
        "tau2": "on the analysis scale (natural-log scale for ratio measures)",
        "weight, i2": "percent (0-100)",
        "yi, se (generic_iv input)": (
            "as entered in RevMan (ESTIMATE, SE); when "
            "scale.input_yi_scale == 'natural log' they are log "
            "ratios"
        ),
        "estimable": "RevMan's ESTIMABLE flag (false: e.g. zero events in both arms)",
        "non-finite": "non-finite stored numbers are kept as the strings 'NaN', 'Infinity', '-Infinity'",
        "subgroup_test": (
            "test for subgroup differences as stored (rm5: Q, P_Q, I2_Q; "
            "RevMan 5 CSV: Qint, P(Qint), I²(Qint); RevMan Web: Subgroup "
            "Chi², df, P, I²); rm5 stores no df for it"
        ),
        "settings_raw": (
            "analysis settings exactly as stored (rm5 attributes, child "
            "elements in <ANGLE_BRACKETS>; CSV/Web column names). MODIFIED and "
            "MODIFIED_BY attributes are dropped"
        ),
        "analysis_id": "<source_id>:<comparison number>.<outcome number>",
    },
    "key_maps": {
        "rm5_pooled": RM5_POOLED_KEYS,
        "rm5_subgroup_test": RM5_SUBGROUP_TEST_KEYS,
        "rm5_study_results": RM5_STUDY_RESULT_KEYS,
        "rm5_inputs": RM5_INPUT_KEYS,
        "rm5csv_pooled": CSV_POOLED_KEYS,
        "rm5csv_subgroup_test": CSV_SUBGROUP_TEST_KEYS,
        "rm5csv_study_results": CSV_STUDY_RESULT_KEYS,
        "rm5csv_inputs": CSV_INPUT_KEYS,
        "web_pooled": WEB_POOLED_KEYS,
        "web_subgroup_test": WEB_SUBGROUP_TEST_KEYS,
        "web_study_results": WEB_STUDY_RESULT_KEYS,
        "web_inputs": WEB_INPUT_KEYS,
    },
    "known_quirks": [
        "Fleiss1993 analysis 1.2 (SMD, fixed): the rm5 file stores empty strings (null here) "
        "for every pooled and per-study result, and the RevMan Web export stores zero "
        "effect/weight/CI for every study and for the pooled row; these are not estimates "
        "and must not be used as a reference. The RevMan 5 CSV export labels the same "
        "analysis MD (IV, fixed) and carries real MD results.",
        "TOTALS='SUB' (CD008625, CD011564): RevMan displays subgroup totals only; per-study "
        "weights are percentages within each subgroup (they sum to 100 per subgroup) and the "
        "stored overall numbers are not a displayed result (see "
        "docs/methods/revman-conventions.md for how they arise).",
        "TOTALS='NO' (CD008625:15.5): no pooling; RevMan stores zeros with estimable=false "
        "and per-study weight 0.",
        "Fixed-effect analyses store tau2 = 0 (rm5, RevMan 5 CSV); RevMan Web leaves "
        "Heterogeneity Tau² empty for them.",
        "Exports are rounded: RevMan 5 CSV to 8 decimals, RevMan Web to 6 decimals; rm5 "
        "attributes are full double precision. RevMan's stored P values carry its own "
        "numerical error (chi-square P up to ~5e-7, normal P up to ~3e-8 from exact).",
    ],
    "subset_rule": (
        "All analyses with at least one study data row in every listed source "
        "are included (no subsetting); analyses without study data are listed "
        "in skipped_analyses."
    ),
}

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def build(data_dir: Path) -> dict[str, Any]:
    sources, analyses, skipped = [], [], []
    titles = {}
    for sid, rel in RM5_SOURCES:
        src, an, sk = parse_rm5(sid, rel, data_dir)
        sources.append(src)
        analyses.extend(an)
        skipped.extend(sk)
        titles[sid] = src["review_title"]
    src, an = parse_rm5_csv(*RM5_CSV_SOURCE, data_dir, titles.get("Fleiss1993"))
    sources.append(src)
    analyses.extend(an)
    src, an = parse_web(*WEB_SOURCE, data_dir)
    src["review_title"] = titles.get("Fleiss1993")
    sources.append(src)
    analyses.extend(an)
    header = dict(HEADER_TEXT)
    header["data_dir"] = str(data_dir)
    header["sources"] = sources
    header["counts"] = {
        s["source_id"]: {
            "analyses": sum(a["source_id"] == s["source_id"] for a in analyses),
            "study_rows": sum(len(a["studies"]) for a in analyses if a["source_id"] == s["source_id"]),
        }
        for s in sources
    }
    return {"header": header, "skipped_analyses": skipped, "analyses": analyses}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    doc = build(args.data_dir)
    text = json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False)
    if EMAIL_RE.search(text):
        raise SystemExit("refusing to write: output contains an e-mail-like string")
    if len(text.encode()) > SIZE_LIMIT:
        raise SystemExit(f"fixture would be {len(text.encode())} bytes (> 10 MB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    c = doc["header"]["counts"]
    print(
        f"wrote {args.out} ({len(text.encode())} bytes): "
        + ", ".join(f"{k} {v['analyses']} analyses/{v['study_rows']} rows" for k, v in c.items()),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The report model draws nothing: ``build_report`` hands each figure job to the sink it is given
(report.figure_jobs.FigureSink), and the pipeline's render step turns the drawn figures and the
report's tables into files. Data: Fleiss 1993 (RevMan 5 file, ../shared/data/PROVENANCE.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _paths import SHARED_DATA

from trialsynth.analyse import analyse_review
from trialsynth.pipeline import render_report, review_report, review_results
from trialsynth.readers.convert import build_folder

FLEISS = SHARED_DATA / "meta-fleiss1993" / "Fleiss1993.rm5"


class Recorder:
    """A sink that draws nothing: it keeps the jobs and 'draws' each as a marker."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []
        self.collected = 0

    def add(self, job: tuple) -> None:
        self.jobs.append(job)

    def collect(self) -> list[tuple[str, bytes | None]]:
        self.collected += 1
        return [(f'<?xml?><svg data-job="{j[2]}"></svg>', None) for j in self.jobs]


@pytest.fixture(scope="module")
def analysed():
    folder = build_folder(FLEISS)
    return folder, analyse_review(folder.review, FLEISS.name)


def test_build_report_gives_every_job_to_the_sink_and_draws_nothing(analysed) -> None:
    from trialsynth.report.build import build_report

    folder, run = analysed
    sink = Recorder()
    report = build_report(folder, FLEISS, run, figures=sink)
    assert sink.collected == 0  # collecting (drawing) is the caller's
    assert list(report.figure_jobs) == sink.jobs and sink.jobs
    paths = [j[2] for j in sink.jobs]
    assert "figures/forest_1.1.svg" in paths and all(p.startswith("figures/") for p in paths)
    assert report.svgs == {} and report.figures == {} and report.gap_svgs == ()
    assert not any(k.startswith("figures/") for k in report.files)
    rendered = render_report(report, sink)
    assert sink.collected == 1
    assert rendered.figures["figures/forest_1.1.svg"] == '<svg data-job="figures/forest_1.1.svg"></svg>\n'
    assert set(rendered.svgs) == {j[1] for j in sink.jobs if j[0] == "forest"} and rendered.svgs
    assert {"tables/sof.docx", "tables/certainty.csv", "tables/included_studies.csv"} <= set(rendered.files)


def test_review_report_draws_what_review_results_draws(analysed) -> None:
    folder, run = analysed
    report = review_report(folder, FLEISS, run)
    _, whole = review_results(FLEISS, quiet=True)
    assert list(report.files) == list(whole.files)
    assert report.files["figures/forest_1.1.svg"] == whole.files["figures/forest_1.1.svg"]
    assert report.files["figures/forest_1.1.svg"].startswith("<?xml")


def test_the_report_model_loads_no_renderer() -> None:
    code = ("import sys, trialsynth.report.build, trialsynth.report.network, trialsynth.report.sof; "
            "print(sorted(m for m in sys.modules if m.startswith('trialsynth.render')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""`pipebench guide`: the tips, their grouping into runs, the verdicts, guide.json and a real guide."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench.config import Cell, RunConfig
from bench.data.dataset import EmbeddedDataset
from bench.errors import PipebenchError
from bench.guide.experiment import MIN_GAIN, group_config, groups_of, guide_rounds, verdict_of
from bench.guide.record import VERDICTS, GuideDocument, TipResult, load_guide, save_guide
from bench.guide.tips import Tip, check_cells, select, tips
from bench.stats import TOO_FEW, Comparison, finish_comparisons, paired
from tests.conftest import GUIDE_TIPS
from tests.helpers.cli import assert_one_line_error, run_main


def comparison(ratio, low, high, verdict, p=0.01, n=9) -> Comparison:
    return Comparison("t", "r", "pipeline", n, ratio, low, high, 0.96, p, p, verdict, "test")


@pytest.mark.parametrize("speed, expected", [
    (comparison(1.4, 1.2, 1.6, "faster"), "holds"),
    (comparison(0.7, 0.6, 0.8, "slower"), "does not hold"),
    (comparison(1.01, 0.97, MIN_GAIN - 0.01, "within noise", p=0.5), "does not hold"),  # no 5% gain possible
    (comparison(1.05, 0.95, 1.2, "within noise", p=0.5), "cannot tell"),  # a gain is still possible
    (comparison(1.3, 1.1, 1.5, TOO_FEW, p=0.03, n=4), "cannot tell"),
    (None, "cannot tell"),
])
def test_the_verdict_follows_the_test_and_the_interval(speed, expected):
    verdict, reason = verdict_of(speed, None)
    assert verdict == expected and reason
    assert verdict_of(speed, "the changed pipeline failed: boom") == ("cannot tell",
                                                                      "the changed pipeline failed: boom")


def test_an_a_a_pair_never_holds_and_a_large_known_gain_does():
    """The verdict of paired rounds of known ratio: equal rates (A/A, with noise) and a 1.5x gain."""
    import numpy as np

    rng = np.random.default_rng(0)
    base = {r: 1000 * rng.uniform(0.8, 1.2) for r in range(10)}
    same = {r: v * rng.uniform(0.97, 1.03) for r, v in base.items()}
    gain = {r: v * 1.5 * rng.uniform(0.97, 1.03) for r, v in base.items()}
    a_a, a_b = finish_comparisons([paired("aa", "ref", "pipeline", same, base),
                                   paired("ab", "ref", "pipeline", gain, base)])
    assert verdict_of(a_a, None)[0] != "holds"
    assert verdict_of(a_b, None)[0] == "holds"


def test_every_tip_names_its_source_and_two_different_cells_that_exist():
    catalogue = tips()
    assert len({t.id for t in catalogue}) == len(catalogue)
    for tip in catalogue:
        assert tip.claim and tip.source and tip.change and tip.mode in ("pipeline", "simulated", "train")
        assert tip.subject != tip.reference or tip.sweep  # a sweep sets the reference's value
    check_cells(catalogue)  # every variant and option exists


def test_tips_are_grouped_into_one_run_per_mode_and_page_cache():
    catalogue = tips()
    groups = groups_of(catalogue)
    assert sorted(g[0].group for g in groups) == sorted({t.group for t in catalogue})
    base = RunConfig(preset="quick", embedded=EmbeddedDataset(48, 24, 32, 3), rounds=9, accuracy_epochs=8,
                     accuracy_seeds=3)
    for group in groups:
        config = group_config(base, group, __import__("pathlib").Path("/tmp/x"))
        mode, page_cache = group[0].group
        assert config.modes == (mode,) and config.page_cache == page_cache and config.rounds == 9
        wanted = {c for t in group for c in (t.subject, t.reference)}
        if mode == "train":  # and the reference of each accuracy's band, with the subject's augmentation
            wanted |= {Cell("tf_data_tuned", "float32", t.subject.augmentation) for t in group
                       if "accuracy" in t.shows}
        assert set(config.cells) == wanted and len(config.cells) == len(wanted)  # each cell once
        if mode == "train":
            assert (config.accuracy_epochs, config.accuracy_seeds) == (8, 3)  # the band of that setting
        else:
            assert config.accuracy_seeds == 1


def test_rounds_are_enough_for_holms_correction_across_the_tips():
    assert guide_rounds(None, 3, 2) == 7  # 2 / 2**7 < 0.05 / 2
    assert guide_rounds(None, 9, 14) == 10
    assert guide_rounds(5, 9, 14) == 5  # asked for: kept, and the verdicts say "too few rounds"


def test_an_unknown_tip_is_one_line_naming_the_valid_ones():
    with pytest.raises(PipebenchError, match="unknown tip 'prefetching'; valid: prefetch, "):
        select(tips(), ["prefetching"])
    assert_one_line_error(run_main("guide", "--tips", "prefetch,nope"), "unknown tip 'nope'", "cache")


def test_a_tip_with_a_variant_that_does_not_exist_is_refused_before_measuring():
    broken = Tip("x", "claim", "src", "change", "pipeline", Cell("no_such_variant"), Cell("generator"))
    with pytest.raises(PipebenchError, match="no_such_variant"):
        check_cells((broken,))
    with pytest.raises(PipebenchError, match="prefetch"):
        check_cells((replace(broken, subject=Cell("tf_data_tuned", options=("prefetch=sometimes",))),))


def test_guide_json_reads_back_as_itself_and_refuses_other_versions(tmp_path):
    speed = comparison(1.4, 1.2, 1.6, "faster")
    tip = TipResult("cache", "claim", "src", "change", "pipeline", "warm", "a", "b", "runs/x", "holds", "why",
                    speed=speed, cost=replace(speed, verdict="costs less"), figures={"subject": {"au": 1}},
                    shows=("memory",))
    guide = GuideDocument("2026-12-02", "pipebench guide", {"cpu_model": "x"}, {"rounds": 9}, (tip,),
                          ("runs/x",), 1.5, "test", ("a note",))
    save_guide(tmp_path, guide)
    assert load_guide(tmp_path) == guide
    raw = json.loads((tmp_path / "guide.json").read_text())
    first = raw["tips"][0]
    assert first["ratio"] == 1.4 and first["ratio_low"] == 1.2 and first["cpu_ratio"] == 1.4
    raw["schema_version"] = 99
    (tmp_path / "guide.json").write_text(json.dumps(raw))
    with pytest.raises(PipebenchError, match="schema version 99; valid: 1"):
        load_guide(tmp_path)


def test_a_real_guide_measures_each_tip_in_its_own_mode_and_keeps_every_run(tiny_guide):
    from bench.results.analysis import analyse
    from bench.results.document import load_run

    doc, folder, result = tiny_guide
    assert doc["schema_version"] == 1 and sorted(t["id"] for t in doc["tips"]) == sorted(GUIDE_TIPS)
    for tip in doc["tips"]:
        assert tip["verdict"] in VERDICTS and tip["reason"]
        assert tip["ratio_low"] <= tip["ratio"] <= tip["ratio_high"]
        assert tip["cpu_ratio"] is not None  # both cells kept their CPU time
        speed = tip["speed"]
        assert speed["n"] == 7 and speed["mode"] == tip["mode"] and len(speed["rounds"]) == 7
        if tip["verdict"] == "holds":
            assert speed["verdict"] == "faster" and speed["p_adjusted"] < 0.05
        run = load_run(folder / tip["run"])
        assert run["config"]["modes"] == [tip["mode"]]
        cells = {c.cell.label: c for c in analyse(run).cells}
        subject, reference = cells[tip["subject"]], cells[tip["reference"]]
        ratios = [s / r for s, r in zip(subject.result.by_round(tip["mode"]).values(),
                                        reference.result.by_round(tip["mode"]).values(), strict=True)]
        assert sorted(ratios) == pytest.approx(sorted(speed["rounds"]))  # paired per round, from the samples
        assert f"{tip['id']}" in result.stdout
    by_id = {t["id"]: t for t in doc["tips"]}
    sweep = by_id["autotune_over_sweep"]["figures"]["sweep"]  # the held-out sweep chose the reference's value
    assert sweep["chosen"] in sweep["images_per_sec"] and set(sweep["images_per_sec"]) == {"1", "2", "4", "8"}
    assert by_id["autotune_over_sweep"]["reference"].endswith(f"parallel_calls={sweep['chosen']}")
    assert sweep["images_per_sec"][sweep["chosen"]] == max(v for v in sweep["images_per_sec"].values() if v)
    assert len(load_run(folder / sweep["run"])["cells"]) == 4
    assert sweep["run"] not in (t["run"] for t in doc["tips"])
    traced = {a["cell"]: a for a in doc["autotune"]}  # AUTOTUNE's choices, from TensorFlow's trace
    assert {"tf_data_tuned cache=none", "tf_data_tuned"} <= set(traced)  # (+ the swept one: its prefetch)
    for label, found in traced.items():
        settings = {(c["op"].rsplit("::", 1)[-1], c["setting"]): c for c in found["choices"]}
        autotuned_map = any("Map" in op and s == "parallelism" for op, s in settings)  # or fused MapAndBatch
        assert autotuned_map == ("parallel_calls=" not in label), (label, settings)  # a fixed one is not
        assert all(1 <= c["low"] <= c["median"] <= c["high"] and c["events"] > 0 for c in found["choices"])
    mixed = by_id["mixed_precision"]
    band = mixed["figures"]["accuracy_band"]  # the float32 reference's band, fitted with 3 seeds
    assert band["low"] <= band["high"]
    assert mixed["figures"]["subject"]["vs_band"] in ("below", "inside", "above")
    assert len(doc["runs"]) == 2  # one run per mode (the sweep's is the tip's figure)
    assert (folder / "guide.html").is_file()


def test_a_group_that_cannot_run_is_noted_and_its_tips_cannot_tell(tmp_path):
    from bench.guide.experiment import run_guide

    def refuse(config):
        raise PipebenchError("--page-cache cold cannot work here: tmpfs")

    chosen = select(tips(), ["tfrecord_cold"])
    base = RunConfig(preset="quick", embedded=EmbeddedDataset(48, 24, 32, 3), rounds=7, step_s=0.016,
                     batch_size=16)
    guide = run_guide(base, chosen, tmp_path, "pipebench guide", run=refuse)
    (tip,) = guide.tips
    assert tip.verdict == "cannot tell" and "tmpfs" in tip.reason and tip.speed is None
    assert "not measured" in guide.notes[0] and load_guide(tmp_path) == guide


def test_a_sweep_that_cannot_run_leaves_its_tip_unable_to_tell(tmp_path):
    from bench.guide.experiment import run_guide

    def refuse(config):
        raise PipebenchError("no space left for the sweep's run")

    base = RunConfig(preset="quick", embedded=EmbeddedDataset(48, 24, 32, 3), rounds=7, batch_size=16)
    guide = run_guide(base, select(tips(), ["autotune_over_sweep"]), tmp_path, "pipebench guide", run=refuse)
    (tip,) = guide.tips
    assert tip.verdict == "cannot tell" and "its sweep was not measured" in tip.reason
    assert any("sweep not measured" in n for n in guide.notes)


def test_ctrl_c_in_a_group_ends_the_guide(monkeypatch):
    import bench.run.runner
    from bench.guide.experiment import measure_group
    from bench.run.runner import RunOutcome

    monkeypatch.setattr(bench.run.runner, "run", lambda config: RunOutcome(__import__("pathlib").Path("x"),
                                                                           True, []))
    with pytest.raises(KeyboardInterrupt):
        measure_group(None)

"""The verdict rules that used to live in notebook cells (Figures 2, 4, 8, §2, §4's choice of λD),
each on both sides of its thresholds with hand-made measurements. The table claims (Tables 1–2,
Appendix B, locality) are tested in test_tables.py, Definition 1's in test_definition1.py."""

from fractions import Fraction as F

import pandas as pd
import pytest

from ssnlib.paper import toy, verdicts
from ssnlib.paper.presets import get_preset


def hair_rows(ld_outside: list[float], ld0_outside: list[float] | None, locality: float) -> pd.DataFrame:
    rows = [dict(model="ssn_ld100", distortion=d, in_block=0.1, locality=locality) for d in ld_outside]
    rows += [dict(model="ssn_ld0", distortion=d, in_block=0.1, locality=0.2) for d in ld0_outside or []]
    return pd.DataFrame(rows)


def test_hair_claim_on_both_sides_of_its_rules():
    far_below = hair_rows([0.010, 0.011, 0.012, 0.011], [0.050, 0.052, 0.049, 0.051], locality=0.7)
    claim = verdicts.hair_claim(far_below, 100.0, 4)
    assert claim.verdict == "reproduced"
    assert claim.ours == ("outside change 0.011 ± 0.00041, locality 0.70; λD = 0: outside change 0.0505 ± 0.00065; "
                          "4 images each")
    assert verdicts.hair_claim(hair_rows([0.010, 0.011, 0.012, 0.011], [0.050, 0.052, 0.049, 0.051], locality=0.4),
                               100.0, 4).verdict == "partly"  # lower, but locality ≤ ½
    # lower by less than two combined standard errors: not reproduced
    close = hair_rows([0.040, 0.050, 0.060, 0.045], [0.045, 0.055, 0.065, 0.050], locality=0.7)
    assert verdicts.hair_claim(close, 100.0, 4).verdict == "not reproduced"
    alone = verdicts.hair_claim(hair_rows([0.01, 0.02], None, 0.7), 100.0, 2, note=" (a note)")
    assert alone.verdict == "not measured" and alone.reason.endswith(" (a note)")


def consistency_rows(ssn_consistent: float, ssn_eye: float, latent_eye: float = 0.0, se: float = 0.02) -> pd.DataFrame:
    base = dict(consistent_se=se, other_eye_change_se=0.001)
    return pd.DataFrame([
        dict(method="original", consistent=0.95, other_eye_change=0.0, **base),
        dict(method="ssn_resample", consistent=ssn_consistent, other_eye_change=ssn_eye, **base),
        dict(method="latent_inpainting", consistent=0.50, other_eye_change=latent_eye, **base),
        dict(method="harmonic_fill", consistent=0.40, other_eye_change=0.0, **base),
    ])


def test_inpainting_claim_on_both_sides_of_its_rules():
    # 0.70 − 0.50 = 0.20 > 2·√2·0.02 = 0.057 and the other eye changes (0.01 > 2 × 0.001)
    assert verdicts.inpainting_claim(consistency_rows(0.70, 0.01), 8, 4).verdict == "reproduced"
    # 0.55 − 0.50 = 0.05 < 0.057: consistency not higher by 2 SE
    assert verdicts.inpainting_claim(consistency_rows(0.55, 0.01), 8, 4).verdict == "partly"
    # other-eye change 0.0015 < 2 × 0.001: not measurably changed
    assert verdicts.inpainting_claim(consistency_rows(0.70, 0.0015), 8, 4).verdict == "not reproduced"
    # the rule needs inpainting's other-eye change to be exactly 0 (it keeps everything outside the mask)
    assert verdicts.inpainting_claim(consistency_rows(0.70, 0.01, latent_eye=0.01), 8, 4).verdict == "not reproduced"
    assert "8 faces × 4" in verdicts.inpainting_claim(consistency_rows(0.70, 0.01), 8, 4).ours


def droplet_rows(spade: list[tuple[float, float, float]], smc: list[tuple[float, float, float]]) -> pd.DataFrame:
    """(peak_to_median, its se, droplet_fraction) per layer b8, b16, … for each model."""
    rows = []
    for model, layers in (("SPADE (eq. 3)", spade), ("SMC (eq. 1)", smc)):
        rows += [dict(model=model, layer=f"b{8 * 2 ** i}.conv1", peak_to_median=r, peak_to_median_se=se,
                      droplet_fraction=f) for i, (r, se, f) in enumerate(layers)]
    return pd.DataFrame(rows)


def test_droplet_claim_on_both_sides_of_its_rules():
    smc = [(2.0, 0.1, 0.0), (2.0, 0.1, 0.01), (2.0, 0.1, 0.0)]
    droplets = droplet_rows([(3.0, 0.1, 0.0), (12.0, 0.5, 0.10), (2.1, 0.1, 0.0)], smc)
    claim = verdicts.droplet_claim(droplets, 10.0, 64)
    assert claim.verdict == "reproduced" and "peak/median at b16.conv1: SPADE 12.00 ± 0.50 (10% > 10)" in claim.ours
    # SPADE 9 % of samples: below the 10 % droplet rule; ratios higher in 2 of 3 layers (> 3 combined SE)
    assert verdicts.droplet_claim(droplet_rows([(3.0, 0.1, 0.0), (12.0, 0.5, 0.09), (2.1, 0.1, 0.0)], smc), 10.0,
                                  64).verdict == "partly"
    # SMC at 2 %: not "none", and only 1 of 3 layers significantly higher
    smc_drops = [(2.0, 0.1, 0.0), (11.0, 0.5, 0.02), (2.0, 0.1, 0.0)]
    claim = verdicts.droplet_claim(droplet_rows([(2.2, 0.1, 0.0), (12.0, 0.5, 0.10), (2.1, 0.1, 0.0)], smc_drops),
                                   10.0, 64, note=" (n)")
    assert claim.verdict == "not reproduced" and "only 0/3 layers" in claim.reason and claim.reason.endswith(" (n)")


def test_toy_claims_follow_the_exact_chains():
    targets = {"paper": toy.joint_distribution(p11=F(1, 2), p00=F(1, 2), p01=F(0), p10=F(0)),
               "mixed": toy.joint_distribution(p11=F(3, 8), p00=F(3, 8), p01=F(1, 8), p10=F(1, 8))}
    first, second = verdicts.toy_claims(targets, 3)
    assert first.verdict == "reproduced" and "inpainting TV 1/2 after 3 sweeps, P(still (1,1)) = 1" in first.ours
    assert second.verdict == "reproduced"
    assert "P = (3/8, 1/8, 1/8, 3/8): inpainting TV 1/4, 1/16, 1/64 after 1…3 sweeps" in second.ours
    assert "block yes in both orders, inpainting no" in second.ours
    # a P under which the two pixels are independent: inpainting *is* exact there, so the claim fails
    independent = {"paper": targets["paper"],
                   "mixed": toy.joint_distribution(p11=F(1, 4), p00=F(1, 4), p01=F(1, 4), p10=F(1, 4))}
    _, fails = verdicts.toy_claims(independent, 2)
    assert fails.verdict == "not reproduced" and "inpainting yes" in fails.ours


@pytest.mark.parametrize("chosen, text", [
    (100.0, "pick **λD = 100** (the paper: λD = 100)"),
    (None, "pick **no λD**: none cuts the distortion ≥ 5× at ≤ 1.5× the λD = 0 quality metric"),
])
def test_choice_sentence(chosen, text):
    assert text in verdicts.choice_sentence(chosen)


def test_preset_caveat_is_what_the_verdicts_append():
    assert get_preset("ci").note == " (ci models are barely trained: the code path is what this preset checks)"
    assert get_preset("cpu").note == ""

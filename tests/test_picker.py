"""Block picker logic (no widgets) and the thin widget layer driven from Python."""

import numpy as np
import pytest
import torch

from ssnlib import SSNGenerator, StyleGAN2Generator
from ssnlib.ui.picker import PickerSession, load_saved

SMALL = dict(z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)


@pytest.fixture()
def session():
    return PickerSession(SSNGenerator(16, grid=(4, 4), **SMALL), seed=3)


def changed_cells(a, b):
    return {tuple(x) for x in (a != b).any(1)[0].nonzero().tolist()}


def test_resample_changes_only_selected_cells_and_history_walks(session):
    z0 = session.z.clone()
    session.toggle((1, 1))
    session.toggle((1, 2))
    session.toggle((3, 3))
    session.toggle((3, 3))  # toggled off again
    assert session.selection == {(1, 1), (1, 2)}
    session.resample()
    assert changed_cells(z0, session.z) == {(1, 1), (1, 2)}
    z1 = session.z.clone()
    session.undo()
    assert torch.equal(session.z, z0) and session.can_redo
    session.redo()
    assert torch.equal(session.z, z1) and not session.can_redo
    session.undo()
    session.new_image(seed=5)  # a new branch drops the redo history
    assert not session.can_redo and len(session.history) == 2
    assert "selected: (1,1), (1,2)" in session.describe()


def test_strength_and_candidates(session):
    session.toggle((0, 0))
    session.set_strength(0.0)
    z0 = session.z.clone()
    session.resample()
    assert torch.equal(session.z, z0)  # strength 0 keeps everything
    session.set_strength(1.0)
    options = session.candidates(3)
    assert len(options) == 3 and all(changed_cells(z0, z) == {(0, 0)} for z in options)
    assert not torch.equal(options[0], options[1])
    session.choose(options[2])
    assert torch.equal(session.z, options[2])
    with pytest.raises(ValueError, match="strength"):
        session.set_strength(1.5)


def test_errors_name_the_problem(session):
    with pytest.raises(ValueError, match="no cells selected"):
        session.resample()
    with pytest.raises(ValueError, match="outside"):
        session.toggle((4, 0))
    with pytest.raises(ValueError, match="latent grid"):
        PickerSession(StyleGAN2Generator(16, **SMALL))


def test_select_by_mask_and_difference_view(session):
    mask = np.zeros((16, 16), dtype=bool)
    mask[0:2, 5:7] = True  # touches cells (0, 1)
    mask[15, 15] = True  # and (3, 3)
    session.select_mask(mask)
    assert session.selection == {(0, 1), (3, 3)}
    assert session.last_change() is None
    session.resample()
    change = session.last_change()
    assert change.heatmap.shape == (16, 16) and change.inside > 0
    assert 0 < change.locality <= 1


def test_rendering_is_cached_and_deterministic(session):
    a = session.image()
    assert a.dtype == np.uint8 and a.shape == (16, 16, 3)
    assert np.array_equal(a, session.image())
    same = PickerSession(session.G, seed=3)
    assert np.array_equal(a, same.image())


def test_save_regenerates_the_exact_image(session, tmp_path):
    session.toggle((2, 2))
    session.resample()
    paths = session.save(tmp_path / "new" / "pick", size=64)
    assert [p.name for p in paths] == ["pick.png", "pick.npy", "pick.safetensors", "pick-64px.png"]
    from PIL import Image

    assert Image.open(paths[0]).size == (16, 16) and Image.open(paths[3]).size == (64, 64)
    assert np.array_equal(np.load(paths[1]), session.z.numpy())
    torch.testing.assert_close(load_saved(paths[2], session.G), session.render(), rtol=0, atol=0)
    other = SSNGenerator(16, grid=(2, 2), **SMALL)
    with pytest.raises(ValueError, match="generator config"):
        load_saved(paths[2], other)


def test_widget_buttons_drive_the_session():
    from ssnlib.ui.widgets import BlockPicker

    picker = BlockPicker(SSNGenerator(16, grid=(4, 4), **SMALL), seed=1, display_size=64)
    assert len(picker.cell_buttons) == 16
    before = picker.image.value
    picker.resample_button.click()  # nothing selected: a message, no change
    assert "no cells selected" in picker.status.value and picker.image.value == before
    picker.cell_buttons[(1, 1)].click()
    picker.cell_buttons[(1, 2)].click()
    assert picker.cell_buttons[(1, 1)].style.button_color != picker.cell_buttons[(0, 0)].style.button_color
    assert picker.session.selection == {(1, 1), (1, 2)}
    picker.resample_button.click()
    assert picker.image.value != before and picker.session.can_undo
    picker.diff_toggle.value = True
    assert picker.diff_image.layout.display == "" and "inside selection" in picker.diff_label.value
    picker.undo_button.click()
    assert picker.image.value == before
    picker.candidates_button.click()
    assert len(picker.candidate_box.children) == 4
    picker.candidate_box.children[0].children[1].click()
    assert picker.session.position == 1 and picker.candidate_box.children == ()
    picker.clear_button.click()
    assert picker.session.selection == set()
    assert len({b.style.button_color for b in picker.cell_buttons.values()}) == 1


def test_select_by_part_uses_the_segmenter():
    from ssnlib.ui.widgets import SELECTED, BlockPicker

    class TopHalfHair:
        part_names = ("face/background", "face/hair")

        def segment(self, images):
            parts = torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)
            parts[:, :3] = 1  # hair in the top 3 rows: the top row of cells
            return parts

    picker = BlockPicker(SSNGenerator(16, grid=(4, 4), **SMALL), segmenter=TopHalfHair(), display_size=64)
    picker.part_choice.value = "face/hair"
    picker.part_button.click()
    assert picker.session.selection == {(0, 0), (0, 1), (0, 2), (0, 3)}
    assert {picker.cell_buttons[(0, c)].style.button_color for c in range(4)} == {SELECTED}


def test_model_menu_starts_on_the_given_generator_and_switches(tmp_path):
    from ssnlib.io.serialization import save_generator
    from ssnlib.ui.widgets import CURRENT_MODEL, BlockPicker

    given, other = SSNGenerator(16, grid=(4, 4), **SMALL), SSNGenerator(16, grid=(2, 2), **SMALL)
    save_generator(tmp_path / "other.safetensors", other)
    picker = BlockPicker(given, models={"ci/other": tmp_path / "other.safetensors"}, display_size=64)
    assert picker.model_choice.value == CURRENT_MODEL and picker.session.G is given  # label matches the image
    picker.model_choice.value = "ci/other"
    assert picker.session.grid.grid == (2, 2) and len(picker.cell_buttons) == 4
    picker.model_choice.value = CURRENT_MODEL
    assert picker.session.G is given and len(picker.cell_buttons) == 16


def test_new_image_with_the_same_seed_records_nothing(session):
    assert session.new_image(seed=7)
    length = len(session.history)
    assert not session.new_image(seed=7)  # the image shown already: no step, no zero-change view
    assert len(session.history) == length and session.last_change() is None


def test_difference_is_measured_in_the_cells_that_were_resampled(session):
    session.toggle((0, 0))
    session.resample()
    before = session.last_change()
    session.clear_selection()
    session.toggle((3, 3))  # a new selection after the resample does not change its statistics
    after = session.last_change()
    assert (after.inside, after.outside, after.locality) == (before.inside, before.outside, before.locality)
    block = session.grid.pixel_mask([(0, 0)]).numpy()
    assert after.inside == pytest.approx(float(after.heatmap[block].mean()), rel=1e-6)


def test_candidates_belong_to_the_image_they_were_drawn_for(session):
    session.toggle((1, 1))
    options = session.candidates(2)
    assert session.candidates_current
    session.resample()  # another image now: the old candidates must not apply
    assert not session.candidates_current
    with pytest.raises(ValueError, match="drawn for another image"):
        session.choose(options[0])
    session.undo()  # back to the image they were drawn for: still usable
    session.choose(options[1])
    assert torch.equal(session.z, options[1]) and session.last_change().inside > 0


def projected_latent(session, seed: int = 11):
    from ssnlib.projection import ProjectedLatent

    G = session.G
    with torch.no_grad():
        ws = G.broadcast_ws(G.mapping(G.sample_z(1, torch.Generator().manual_seed(seed))))
    return ProjectedLatent(ws.clone(), G.make_noise(1, torch.Generator().manual_seed(seed + 1)))


def test_a_projected_image_is_a_step_resampled_in_w_with_its_own_noise(session, tmp_path):
    original = session.render().clone()
    latent = projected_latent(session)
    session.open_projection(latent)
    assert session.projected and session.position == 1 and session.last_change() is None
    assert torch.equal(session.render(), latent.render(session.G))  # its w grids and its noise inputs
    session.toggle((1, 1))
    session.resample()
    changed = (session.z != latent.ws).any(2)[0]  # (num_ws, gh, gw)
    assert changed[:, 1, 1].all() and changed.sum() == session.G.num_ws  # that cell, every layer, only it
    assert 0 < session.last_change().locality <= 1
    session.set_strength(0.0)
    before = session.z.clone()
    session.resample()
    assert torch.equal(session.z, before)  # strength 0 keeps the cell
    session.undo(), session.undo(), session.undo()
    assert not session.projected and torch.equal(session.render(), original)  # the first image, its own noise
    session.redo(), session.redo()
    paths = session.save(tmp_path / "projected")
    assert torch.equal(load_saved(paths[2], session.G), session.render())
    assert session.new_image(seed=3) and not session.projected
    assert torch.equal(session.noise[0], session._noises[0][0])  # new images use the session's noise again


def test_open_image_upload_projects_into_the_picker(tmp_path):
    import io
    from datetime import datetime, timezone

    from PIL import Image

    from ssnlib.ui.widgets import BlockPicker

    picker = BlockPicker(SSNGenerator(16, grid=(4, 4), **SMALL), projection_steps=3)
    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 30, 3), 180, np.uint8)).save(buffer, format="PNG")
    picker.upload.value = ({"name": "mine.png", "type": "image/png", "size": buffer.tell(),
                            "content": memoryview(buffer.getvalue()), "last_modified": datetime.now(timezone.utc)},)
    assert picker.session.projected and picker.session.position == 1
    assert "projected mine.png (centre-cropped 30×24 to 24×24" in picker.status.value and "dB" in picker.status.value
    assert picker.progress.value == 3 and picker.upload.value == ()
    picker.toggle((2, 2))
    picker.resample_button.click()
    assert picker.session.position == 2 and picker.session.projected
    picker.upload.value = ({"name": "broken.png", "type": "image/png", "size": 3, "content": memoryview(b"xyz"),
                            "last_modified": datetime.now(timezone.utc)},)
    assert "broken.png: cannot read this image" in picker.status.value and picker.session.position == 2


def test_select_mask_with_a_minimum_share_ignores_cells_a_part_barely_touches(session):
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:8, 4:8] = True  # all of cell (1, 1)
    mask[0, 15] = True  # one pixel of cell (0, 3): 1/16 of it
    mask[8:10, 0:4] = True  # half of cell (2, 0)
    session.select_mask(mask)
    assert session.selection == {(1, 1), (0, 3), (2, 0)}  # every cell it touches
    session.select_mask(mask, min_share=0.25)
    assert session.selection == {(1, 1), (2, 0)}
    session.select_mask(mask, min_share=0.75)
    assert session.selection == {(1, 1)}


def test_parts_offered_are_the_models_datasets_and_a_missing_choice_is_named():
    from ssnlib.ui.widgets import BlockPicker

    class Parts:
        part_names = ("face/background", "face/hair", "church/sky", "church/tower")

        def segment(self, images):
            return torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)

    G = SSNGenerator(16, grid=(4, 4), **SMALL)
    assert list(BlockPicker(G, segmenter=Parts(), dataset="faces").part_choice.options) == ["face/background",
                                                                                              "face/hair"]
    assert list(BlockPicker(G, segmenter=Parts(), dataset="churches").part_choice.options) == ["church/sky",
                                                                                                 "church/tower"]
    assert len(BlockPicker(G, segmenter=Parts()).part_choice.options) == 4  # dataset unknown: all
    picker = BlockPicker(G, segmenter=Parts(), dataset="faces")
    picker.part_choice.value = None
    picker.part_button.click()
    assert "choose a part first" in picker.status.value


def test_png_outlines_the_given_cells_on_the_grid():
    import io

    from PIL import Image

    from ssnlib.ui.widgets import OUTLINE_RGB, png_bytes

    pixels = np.zeros((8, 8, 3), np.uint8)
    out = np.asarray(Image.open(io.BytesIO(png_bytes(pixels, 16, (2, 2), {(0, 1)}))))
    red = np.all(out == OUTLINE_RGB, axis=2)
    assert red[0, 8:16].all() and red[7, 8:16].all() and red[0:8, 8].all() and red[0:8, 15].all()
    assert not red[8:, :].any() and not red[:, :8].any()  # only cell (0, 1)
    assert np.all(out[8, :8] == 255)  # the grid line between the rows


def test_new_image_moves_to_the_next_seed_when_the_box_is_unchanged():
    from ssnlib.ui.widgets import BlockPicker

    G = SSNGenerator(16, grid=(4, 4), **SMALL)
    picker = BlockPicker(G, seed=4, display_size=64)
    assert torch.equal(picker.session.z, G.sample_z(1, torch.Generator().manual_seed(4)))  # the seed names the image
    first = picker.image.value
    picker.new_button.click()
    assert picker.seed_box.value == 5 and picker.session.position == 1 and picker.image.value != first
    picker.new_button.click()
    assert picker.seed_box.value == 6 and picker.session.position == 2
    picker.seed_box.value = 4  # a seed typed in: that image, not the next one
    picker.new_button.click()
    assert picker.seed_box.value == 4 and picker.image.value == first and picker.session.position == 3

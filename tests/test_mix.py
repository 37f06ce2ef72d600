"""Mix & match: a grid of person styles x backgrounds costs N + M model passes (counted on the
stylizers themselves), each cell is the picture a single run would make, and the named
endpoint /mix returns the previews, the full-size cells and the cost in plain words."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import person_on_green


def test_grid_costs_n_plus_m_model_passes(tiny_setup, model_calls):
    from animefy.image.mix import Column, columns_for, mix
    from animefy.settings import Settings

    photo, picture = person_on_green(96, 128), np.full((60, 80, 3), (20, 40, 200), np.uint8)
    columns = columns_for(["invert", "darken", "original", "transparent"], ["night", "winter"], picture=True)
    assert columns == [Column("keep", "invert"), Column("keep", "darken"), Column("keep", "original"),
                       Column("keep", "invert", "night"), Column("keep", "invert", "winter"), Column("transparent"),
                       Column("image", "invert")]  # fmt: skip
    result = mix(photo, ["invert", "darken"], columns, Settings.from_env(), picture=picture)
    frames = {style: sum(calls) for style, calls in model_calls.items()}
    # 2 person layers + 2 painted backgrounds (the variations share invert's) + the painted picture.
    assert sum(frames.values()) == result.passes == 5
    assert result.naive_passes == 2 * 7 + 5 * 2  # each picture on its own: its person and its background
    assert len(result.cells) == 2 and all(len(row) == 7 for row in result.cells)
    cut_out = result.cells[0][5]
    assert cut_out.alpha is not None and cut_out.alpha[5, 5] == 0 and cut_out.alpha[80, 64] > 0.9
    assert all(cell.alpha is None for row in result.cells for i, cell in enumerate(row) if i != 5)


def test_each_cell_is_what_a_single_run_makes(tiny_setup):
    from animefy.image.mix import columns_for, mix
    from animefy.image.pipeline import stylize_image
    from animefy.settings import Settings

    photo = person_on_green(96, 128)
    settings = Settings.from_env()
    result = mix(photo, ["invert", "darken"], columns_for(["darken", "original"], ["dusk"], False), settings)
    cases = [(0, 0, {"person_style": "invert", "background_style": "darken"}),
             (1, 1, {"person_style": "darken", "background_style": "original"}),
             (0, 2, {"person_style": "invert", "background_style": "darken", "background_variation": "dusk"})]  # fmt: skip
    for row, col, request in cases:
        single = stylize_image(photo, settings=settings, **request).rgb
        diff = np.abs(single.astype(int) - result.cells[row][col].rgb.astype(int)).mean()
        assert diff < 2, (request, diff)


def test_too_large_or_empty_grids_are_refused_before_work(tiny_setup, model_calls):
    from animefy.errors import InputError
    from animefy.image.mix import Column, mix
    from animefy.settings import Settings

    photo = person_on_green(96, 128)
    with pytest.raises(InputError, match="At most"):
        mix(photo, ["invert", "darken", "original", "cel", "invert2"], [Column()], Settings.from_env())
    with pytest.raises(InputError, match="at least one"):
        mix(photo, ["invert"], [], Settings.from_env())
    with pytest.raises(InputError, match="needs a background picture"):
        mix(photo, ["invert"], [Column("image", "invert")], Settings.from_env())
    assert not model_calls


def test_mix_endpoint_returns_previews_cells_and_cost(app_server, tmp_path):
    from gradio_client import Client, handle_file

    photo = tmp_path / "person.png"
    cv2.imwrite(str(photo), person_on_green(192, 256)[..., ::-1])
    client = Client(app_server[0] + "/", verbose=False)
    previews, cells, note = client.predict(image=handle_file(str(photo)), person_styles=["invert", "original"],
                                          backgrounds=["invert", "transparent"], variations=["night"],
                                          api_name="/mix")  # fmt: skip
    assert len(previews) == len(cells) == 2 * 3
    assert [c["caption"] for c in cells][:3] == [p["caption"] for p in previews][:3]
    assert "Invert person" in cells[0]["caption"] and "Night" in cells[1]["caption"]
    full = cv2.imread(cells[2]["image"], cv2.IMREAD_UNCHANGED)
    assert full.shape == (192, 256, 4) and full[5, 5, 3] == 0  # the transparent column, full size
    assert max(cv2.imread(previews[0]["image"]).shape[:2]) <= 256
    assert "6 pictures, from 2 model passes" in note and "would take 7" in note

"""One extraction per space and subject serves both families: a subset of images taken from an
extraction of more images is, bit for bit, what extracting only that subset gives, and the cache
serves a file only for the regions and images it holds.

The demo tree of every family is the one with both variants: the 8-subject reports ask for the
images all eight subjects saw three times, the 4-subject ones for those subjects 1, 2, 5 and 7
saw three times.
"""

import numpy as np
import pytest

from nsdval.analysis import cache, extraction
from nsdval.data.expdesign import load_expdesign
from nsdval.data.families import Family, family_layout
from nsdval.data.spaces import open_space

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_trees")]

FIELDS = (
    "nsd_ids",
    "coords",
    "trials",
    "betas",
    "session_mean",
    "session_std",
    "ncsnr",
    "session_z",
)
SCALARS = ("n_sessions", "trials_per_session", "psc_divisor")
REGIONS = ("V4", "IT")
VARIANTS = ("_8subj", "_4subj")


def assert_identical(got, expected):
    """Every array field (and ``session_z``) bit for bit, with its dtype, and every scalar."""
    for name in FIELDS:
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)
    for name in SCALARS:
        assert getattr(got, name) == getattr(expected, name), name


@pytest.fixture(scope="module", params=["volume", "surface"])
def families(request, demo_every_family):
    """One space of the demo tree: its space, design and each variant's reference images."""
    layouts = {v: family_layout(demo_every_family, Family(request.param, v)) for v in VARIANTS}
    space = open_space(layouts["_8subj"])
    design = load_expdesign(space.layout.expdesign())
    ids = {v: cache.reference_ids(open_space(layout), design) for v, layout in layouts.items()}
    return space, design, layouts, ids


def never_extract(*args, **kwargs):
    raise AssertionError("extracted although the cache holds the region and images")


def test_the_families_ask_for_different_images(families):
    _, _, layouts, ids = families
    eight, four = ids["_8subj"], ids["_4subj"]
    assert not np.array_equal(eight, four)
    union = cache.union_reference_ids(list(layouts.values()))
    np.testing.assert_array_equal(union, np.union1d(eight, four))
    assert np.all(np.diff(union) > 0)


def test_a_subset_of_a_wider_extraction_is_the_direct_extraction(families):
    space, design, layouts, ids = families
    union = cache.union_reference_ids(list(layouts.values()))
    wide = extraction.extract_subject(space, design, 5, REGIONS, union)
    odd = union[::3][::-1]  # every third image, in reverse order
    for subset in (ids["_8subj"], ids["_4subj"], odd):
        direct = extraction.extract_subject(space, design, 5, REGIONS, subset)
        for region in REGIONS:
            assert_identical(extraction.select_images(wide[region], subset), direct[region])


def test_select_images_refuses_an_image_it_does_not_hold(families):
    space, design, _, ids = families
    eight = extraction.extract_region(space, design, 1, "V4", ids["_8subj"])
    missing = np.setdiff1d(ids["_4subj"], ids["_8subj"])
    assert missing.size
    with pytest.raises(KeyError, match=f"nsd_id {missing[0]} "):
        extraction.select_images(eight, ids["_4subj"])


def test_a_cache_file_is_served_only_for_the_images_it_holds(families, tmp_path, monkeypatch):
    space, design, layouts, ids = families
    eight, four = ids["_8subj"], ids["_4subj"]
    made = cache.prepare_subject(layouts["_8subj"], 1, REGIONS, tmp_path)
    assert made == cache.cache_file(tmp_path, space, 1)
    np.testing.assert_array_equal(cache.contents(made)[1], eight)
    assert cache.holds_regions(made, REGIONS, eight)
    assert not cache.holds_regions(made, REGIONS, four)
    assert cache.load(made, "V4", four) is None
    real, calls = extraction.extract_subject, []

    def counted(*args, **kwargs):
        calls.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(extraction, "extract_subject", counted)
    got = cache.region_extraction(space, design, 1, "V4", four, tmp_path)
    assert len(calls) == 1  # not served from the file: extracted directly
    np.testing.assert_array_equal(calls[0], four)
    assert_identical(got, real(space, design, 1, ["V4"], four)["V4"])
    monkeypatch.setattr(extraction, "extract_subject", never_extract)
    assert_identical(
        cache.region_extraction(space, design, 1, "V4", eight, tmp_path),
        real(space, design, 1, ["V4"], eight)["V4"],
    )


def test_a_new_extraction_keeps_what_the_file_held(families, tmp_path, monkeypatch):
    space, design, layouts, ids = families
    asked = {"_4subj": ids["_4subj"][::2], "_8subj": ids["_8subj"]}  # neither holds the other
    assert np.setdiff1d(asked["_8subj"], asked["_4subj"]).size
    assert np.setdiff1d(asked["_4subj"], asked["_8subj"]).size
    first = cache.prepare_subject(layouts["_4subj"], 5, ["V4"], tmp_path, nsd_ids=asked["_4subj"])
    assert first is not None
    assert cache.prepare_subject(layouts["_8subj"], 5, ["IT"], tmp_path) == first
    assert sorted(tmp_path.iterdir()) == [first]
    regions, held = cache.contents(first)
    assert sorted(regions) == ["IT", "V4"]
    np.testing.assert_array_equal(held, np.union1d(*asked.values()))
    expected = {
        (region, variant): extraction.extract_region(space, design, 5, region, asked[variant])
        for region in REGIONS
        for variant in VARIANTS
    }
    monkeypatch.setattr(extraction, "extract_subject", never_extract)
    for variant, layout in layouts.items():  # each family's reports: no ping-pong
        again = cache.prepare_subject(layout, 5, REGIONS, tmp_path, nsd_ids=asked[variant])
        assert again is None
        for region in REGIONS:
            got = cache.region_extraction(space, design, 5, region, asked[variant], tmp_path)
            assert_identical(got, expected[region, variant])


def test_an_unreadable_cache_file_is_replaced(families, tmp_path):
    space, _, layouts, ids = families
    path = cache.cache_file(tmp_path, space, 2)
    path.write_bytes(b"not an npz")
    assert not cache.holds_regions(path, ["V4"], ids["_8subj"])
    assert cache.prepare_subject(layouts["_8subj"], 2, ["V4"], tmp_path) == path
    assert cache.holds_regions(path, ["V4"], ids["_8subj"])

"""The extraction pass reads each subject of a space once, for every family that needs it."""

from nsdval.data.families import Family
from nsdval.data.layout import NsdLayout
from nsdval.run.inputs import extraction_groups, subject_layouts
from nsdval.run.plan import FamilyRun, Job


def family_run(space, variant, subjects):
    layout = NsdLayout("/nsd", variant=variant, space=space)
    return FamilyRun(Family(space, variant), layout, tuple(subjects))


def job(family, subject, region="V4"):
    template = "assembly_validation" if subject else "assembly_structure"
    return Job(f"{family}-{subject}-{region}", template, subject, region, {}, ".", family=family)


def test_families_of_a_space_form_one_group_with_the_subjects_their_jobs_need():
    runs = [
        family_run("volume", "_8subj", range(1, 9)),
        family_run("volume", "_4subj", (1, 2, 5, 7)),
        family_run("surface", "_8subj", range(1, 9)),
        family_run("surface", "_4subj", (1, 2, 5, 7)),
    ]
    todo = [
        job("volume_8subj", 3),
        job("volume_8subj", 1),
        job("volume_8subj", 1, "IT"),
        job("volume_4subj", 5),
        job("volume_4subj", 1),
        job("volume_4subj", None),  # structure: no subject to extract
        job("surface_4subj", 2),
    ]
    groups = extraction_groups(todo, runs)
    assert groups == [
        [(runs[0].layout, (1, 3)), (runs[1].layout, (1, 5))],
        [(runs[3].layout, (2,))],
    ]
    needs = subject_layouts(groups[0])
    assert needs == {
        1: (runs[0].layout, runs[1].layout),
        3: (runs[0].layout,),
        5: (runs[1].layout,),
    }


def test_nothing_to_extract_gives_no_group():
    runs = [family_run("volume", "_8subj", (1,))]
    assert extraction_groups([job("volume_8subj", None)], runs) == []
    assert subject_layouts([]) == {}

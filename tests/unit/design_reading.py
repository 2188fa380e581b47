"""Reading a synthetic tree's ``nsd_expdesign.mat`` with scipy alone, for the synth tests.

Independent of nsdval's readers (and of the generator): what the tests compare against.
"""

import scipy.io


def expdesign(root):
    """``(masterordering, subjectim, sharedix)`` of a tree, as 1-based int arrays."""
    mat = scipy.io.loadmat(root / "metadata" / "nsd_expdesign.mat")
    return (
        mat["masterordering"].ravel().astype(int),
        mat["subjectim"].astype(int),
        mat["sharedix"].ravel().astype(int),
    )


def trial_images(root, subject_index, n_trials):
    """0-based NSD id of each of a subject's first ``n_trials`` trials."""
    order, subjectim, _ = expdesign(root)
    return subjectim[subject_index, order[:n_trials] - 1] - 1

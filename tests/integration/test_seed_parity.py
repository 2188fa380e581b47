"""The seed notebook's own procedure (sections 1 and 2), re-implemented here as the seed wrote it
(loops, iterrows, float32 arrays), pointed at the synthetic tree, must give nsdval's numbers."""

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr

from nsdval.analysis import validation

pytestmark = pytest.mark.slow


def seed_sessions(root, subj):
    return len(sorted((root / f"subj{subj:02d}" / "betas").glob("betas_session*.hdf5")))


def seed_trials_per_session(root, subj):
    with h5py.File(root / f"subj{subj:02d}" / "betas" / "betas_session01.hdf5", "r") as f:
        return f["betas"].shape[0]


def seed_trial_info(root, subj_idx, target_nsd_ids, expdesign):
    masterordering = expdesign["masterordering"].flatten()
    subjectim = expdesign["subjectim"]
    sharedix = expdesign["sharedix"].flatten()
    n_total = seed_sessions(root, subj_idx + 1) * seed_trials_per_session(root, subj_idx + 1)
    per_session = seed_trials_per_session(root, subj_idx + 1)
    subj_nsdids = subjectim[subj_idx]
    nsdid_to_imgidx = {int(n): i + 1 for i, n in enumerate(subj_nsdids)}
    shared_imgidxs = {nsdid_to_imgidx[int(n)] for n in sharedix if int(n) in nsdid_to_imgidx}
    records, rep_counter = [], {}
    for trial_idx in range(n_total):
        img_idx = masterordering[trial_idx]
        if img_idx in shared_imgidxs:
            nsd_id = int(subj_nsdids[img_idx - 1] - 1)
            if nsd_id not in target_nsd_ids:
                rep_counter[img_idx] = rep_counter.get(img_idx, 0) + 1
                continue
            rep = rep_counter.get(img_idx, 0)
            rep_counter[img_idx] = rep + 1
            records.append(
                {
                    "nsd_id": nsd_id,
                    "rep": rep,
                    "session": trial_idx // per_session + 1,
                    "trial_in_session": trial_idx % per_session,
                }
            )
    return pd.DataFrame(records)


def seed_bypass_v4(root, subj, split_df):
    expdesign = scipy.io.loadmat(root / "metadata" / "nsd_expdesign.mat")
    all_nsd_ids = sorted(split_df["nsd_id"].values)
    nsd_id_to_idx = {nsd_id: idx for idx, nsd_id in enumerate(all_nsd_ids)}
    prf = nib.load(str(root / f"subj{subj:02d}" / "rois" / "prf-visualrois.nii.gz")).get_fdata().T
    v4_mask = np.isin(prf, [7])
    trial_info = seed_trial_info(root, subj - 1, set(all_nsd_ids), expdesign)
    per_rep = np.zeros((len(all_nsd_ids), 3, v4_mask.sum()), dtype=np.float32)
    for session in range(1, seed_sessions(root, subj) + 1):
        session_trials = trial_info[trial_info["session"] == session]
        if len(session_trials) == 0:
            continue
        path = root / f"subj{subj:02d}" / "betas" / f"betas_session{session:02d}.hdf5"
        with h5py.File(path, "r") as f:
            betas = f["betas"][:].astype(np.float32) / 300.0
        roi = betas[:, v4_mask]
        mean = roi.mean(axis=0, keepdims=True)
        std = roi.std(axis=0, keepdims=True)
        std[std == 0] = 1.0
        roi = (roi - mean) / std
        for _, row in session_trials.iterrows():
            per_rep[nsd_id_to_idx[row["nsd_id"]], row["rep"]] = roi[row["trial_in_session"]]
    averaged = per_rep.mean(axis=1)
    gz_std = averaged.std(axis=0)
    gz_std[gz_std == 0] = 1.0
    return (averaged - averaged.mean(axis=0)) / gz_std, len(trial_info)


def test_seed_sections_1_and_2_agree_with_nsdval(tiny_tree):
    root = tiny_tree
    split_df = pd.read_csv(root / "assemblies" / "train_test_split_8subj.csv")
    train_ids = set(split_df.loc[split_df["split"] == "train", "stimulus_id"])
    bs_train = xr.open_dataarray(root / "brainscore" / "Allen2022_fmri_train_8subj.nc").load()
    nb02 = xr.open_dataarray(root / "assemblies" / "Allen2022.V4_8subj.nc").load()

    # Section 1, as the seed does it, for subj01.
    subj_mask = nb02.coords["subject"].values == "subj01"
    data = nb02.values[:, subj_mask]
    std = data.std(axis=0)
    std[std == 0] = 1.0
    train_mask = np.array([s in train_ids for s in nb02.coords["stimulus_id"].values])
    seed_train = ((data - data.mean(axis=0)) / std)[train_mask]
    bs_mask = (bs_train.coords["subject"].values == "subj01") & (
        bs_train.coords["region"].values == "V4"
    )
    assert np.max(np.abs(seed_train - bs_train.values[:, bs_mask, 0])) < 1e-5

    sr = validation.load_subject_region(nsd_root=root, subject=1, region="V4", variant="_8subj")
    gz = validation.reproduce_global_z(sr)
    np.testing.assert_allclose(gz.train_reproduced, seed_train, atol=1e-5)

    # Section 2, the raw bypass.
    seed_final, n_trials = seed_bypass_v4(root, 1, split_df)
    bp = validation.run_bypass(sr)
    assert n_trials == bp.ext.trials.size == 3 * len(split_df)
    np.testing.assert_allclose(bp.global_z, seed_final, atol=1e-5)
    assert np.max(np.abs(seed_final[train_mask] - bs_train.values[:, bs_mask, 0])) < 1e-5

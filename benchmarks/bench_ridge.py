"""Ridge and RidgeCV for 8 subjects: nsdval's shared-Gram ridge vs scikit-learn per subject.

The benchmark scores each subject with ``Ridge(alpha=1)`` on the same model features; the
seed notebook adds ``RidgeCV(alphas=ALPHA_LIST)`` per subject. nsdval eigendecomposes the
centred Gram matrix of the training features once (``nsdval.analysis.ridge.GramRidge``) and solves
every subject and alpha from it. Synthetic features and voxels with the seed's V4 shapes:
412 train and 103 test images, the 8 subjects' voxel counts after ``nc_testset > 30``
(325, 311, 184, 140, 275, 163, 119, 143); the features have a low-rank signal that the voxels
read out, other content the voxels ignore, and noise. Predictions must agree within 1e-6 and
the chosen alphas exactly.

    python benchmarks/bench_ridge.py                    # 8192 features
    python benchmarks/bench_ridge.py --features 64896   # the seed's real V4 shape
"""

import argparse

import numpy as np
from common import best_of, header, parse_args, row
from sklearn.linear_model import Ridge, RidgeCV

from nsdval.analysis import ridge, scoring

VOXELS = (325, 311, 184, 140, 275, 163, 119, 143)
TOLERANCE = 1e-6


def make_data(n_train, n_test, n_features, rng):
    """Features (float32, as stored) and each subject's voxels (train and test)."""
    n_latent, n_nuisance, n_images = 20, 400, n_train + n_test
    latents = rng.standard_normal((n_images, n_latent))
    mixing = rng.standard_normal((n_latent, n_features)) / np.sqrt(n_latent)
    # image content the voxels ignore, so that the penalty matters (alphas of 1e3..1e5)
    nuisance = rng.standard_normal((n_images, n_nuisance))
    nuisance = nuisance @ (3.0 * rng.standard_normal((n_nuisance, n_features)))
    noise = 3.0 * rng.standard_normal((n_images, n_features))
    signal = latents @ mixing + nuisance / np.sqrt(n_nuisance) + noise
    features = np.maximum(signal, 0).astype(np.float32)  # ReLU-like
    voxels = []
    for n in VOXELS:
        tuning = rng.standard_normal((n_latent, n)) / np.sqrt(n_latent)
        y = latents @ tuning + rng.uniform(0.7, 2.0, n) * rng.standard_normal((len(latents), n))
        voxels.append(((y - y.mean(axis=0)) / y.std(axis=0)).astype(np.float32))
    return features[:n_train], features[n_train:], voxels, n_train


def nsdval_alpha1(x_train, x_test, y_trains):
    model = ridge.GramRidge(x_train, x_test)
    return model.predict(np.concatenate(y_trains, axis=1), alpha=1.0)


def sklearn_alpha1(x_train, x_test, y_trains):
    return np.concatenate(
        [Ridge(alpha=1.0).fit(x_train, y).predict(x_test) for y in y_trains], axis=1
    )


def nsdval_ridgecv(x_train, x_test, y_trains):
    model = ridge.GramRidge(x_train, x_test)
    fits = [model.predict_cv(y, alphas=ridge.ALPHA_LIST) for y in y_trains]
    return [p for p, _ in fits], [a for _, a in fits]


def sklearn_ridgecv(x_train, x_test, y_trains):
    models = [RidgeCV(alphas=ridge.ALPHA_LIST).fit(x_train, y) for y in y_trains]
    return [m.predict(x_test) for m in models], [float(m.alpha_) for m in models]


def nsdval_benchmark(x_train, x_test, y_trains, test_reps):
    groups = np.concatenate([np.full(n, i) for i, n in enumerate(VOXELS)])
    return scoring.score_subjects(
        x_train, x_test, np.concatenate(y_trains, axis=1), test_reps, groups, alpha=1.0
    )


def max_difference(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=8192, help="model features (64896)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parse_args(parser, {"features": 64896})
    rng = np.random.default_rng(0)
    x_train, x_test, voxels, n_train = make_data(412, 103, args.features, rng)
    y_trains = [v[:n_train] for v in voxels]
    header("bench_ridge: 8 subjects, nsdval GramRidge vs scikit-learn per subject")
    print(
        f"# features {x_train.shape} train, {x_test.shape} test; voxels {VOXELS}; "
        "scikit-learn gets the float64 arrays nsdval computes in"
    )
    # float64 for both: scikit-learn would otherwise fit float32 input in float32
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    y_trains = [y.astype(np.float64) for y in y_trains]

    ours, ours_pred = best_of(nsdval_alpha1, x_train, x_test, y_trains, repeats=args.repeats)
    base, base_pred = best_of(sklearn_alpha1, x_train, x_test, y_trains, repeats=args.repeats)
    difference = max_difference(ours_pred, base_pred)
    assert difference < TOLERANCE, f"alpha 1 predictions differ by {difference:.2e}"
    row("Ridge(alpha=1), 8 subjects", ours, base, "sklearn")
    print(f"{'':<44}max |prediction difference| {difference:.1e}")

    ours, (ours_pred, ours_alpha) = best_of(
        nsdval_ridgecv, x_train, x_test, y_trains, repeats=args.repeats
    )
    base, (base_pred, base_alpha) = best_of(sklearn_ridgecv, x_train, x_test, y_trains, repeats=1)
    assert ours_alpha == base_alpha, f"alphas differ: {ours_alpha} vs {base_alpha}"
    difference = max(max_difference(a, b) for a, b in zip(ours_pred, base_pred, strict=True))
    assert difference < TOLERANCE, f"RidgeCV predictions differ by {difference:.2e}"
    row("RidgeCV(ALPHA_LIST), 8 subjects", ours, base, "sklearn")
    print(f"{'':<44}alphas {ours_alpha} equal; max |prediction difference| {difference:.1e}")

    test_reps = np.stack([np.concatenate([v[n_train:] for v in voxels], axis=1)] * 3)
    test_reps = test_reps + 0.5 * rng.standard_normal(test_reps.shape)
    seconds, _ = best_of(nsdval_benchmark, x_train, x_test, y_trains, test_reps, repeats=1)
    print(f"{'score_subjects (ridge, r, ceilings)':<42} nsdval {seconds:9.4f} s", flush=True)


if __name__ == "__main__":
    main()

"""Classic (scikit-learn) classifiers on feature tables: the HRV baseline and the
linear and k-nearest-neighbour probes of frozen encoder features.

Missing values (windows where too few beats were found) are imputed with the
training part's median, features are standardised with the training part's mean and
standard deviation, and the classifier sees nothing of the test fold but the rows it
predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgssl.util.checks import check_int, check_number, check_option

__all__ = ["CLASSIFIERS", "fit_predict"]

#: Classifiers :func:`fit_predict` knows.
CLASSIFIERS = ("logistic_regression", "random_forest", "knn")


def _estimator(
    classifier: str,
    *,
    C: float,
    n_estimators: int,
    n_neighbors: int,
    weights: str,
    seed: int,
) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if classifier == "logistic_regression":
        model = LogisticRegression(C=C, max_iter=2000)
    elif classifier == "knn":
        model = KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights)
    else:
        model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed)
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        model,
    )


def fit_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    n_classes: int,
    classifier: str = "logistic_regression",
    C: float = 1.0,
    n_estimators: int = 200,
    n_neighbors: int = 5,
    weights: str = "uniform",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit on the training rows, predict the test rows.

    Parameters
    ----------
    x_train : np.ndarray, shape (n_train, n_features)
        Features (NaN where missing).
    y_train : np.ndarray of int, shape (n_train,)
        Class indices in ``[0, n_classes)``.
    x_test : np.ndarray, shape (n_test, n_features)
        Rows to predict.
    n_classes : int
        Classes of the label scheme; classes absent from ``y_train`` get
        probability 0.
    classifier : {"logistic_regression", "random_forest", "knn"}
        The estimator after imputation and standardisation.
    C : float
        Inverse regularisation strength of the logistic regression.
    n_estimators : int
        Trees of the random forest.
    n_neighbors : int
        Neighbours of the k-NN classifier (at most the training rows).
    weights : {"uniform", "distance"}
        Neighbour weights of the k-NN classifier.
    seed : int
        Seed of the random forest.

    Returns
    -------
    y_pred : np.ndarray of int64, shape (n_test,)
    proba : np.ndarray of float64, shape (n_test, n_classes)
    """
    check_option(classifier, CLASSIFIERS, "classifier")
    n_classes = check_int(n_classes, "n_classes", minimum=2)
    C = check_number(C, "C", minimum=0.0, exclusive_minimum=True)
    check_int(n_estimators, "n_estimators", minimum=1)
    n_neighbors = check_int(n_neighbors, "n_neighbors", minimum=1)
    check_option(weights, ("uniform", "distance"), "weights")
    x_train, x_test = np.asarray(x_train, float), np.asarray(x_test, float)
    y_train = np.asarray(y_train, dtype=np.int64)
    if x_train.ndim != 2 or x_test.ndim != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x_train and x_test must be 2-D of equal width, got {x_train.shape} and "
            f"{x_test.shape}"
        )
    if y_train.shape != (x_train.shape[0],) or y_train.size == 0:
        raise ValueError(f"y_train must have shape ({x_train.shape[0]},) and rows")
    proba = np.zeros((x_test.shape[0], n_classes))
    present = np.unique(y_train)
    if present.size == 1:  # one class to learn from: predict it
        proba[:, present[0]] = 1.0
    elif x_test.shape[0]:
        model = _estimator(
            classifier, C=C, n_estimators=n_estimators,
            n_neighbors=min(n_neighbors, x_train.shape[0]), weights=weights,
            seed=seed,
        )  # fmt: skip
        model.fit(x_train, y_train)
        proba[:, model.classes_] = model.predict_proba(x_test)
    return proba.argmax(axis=1).astype(np.int64), proba

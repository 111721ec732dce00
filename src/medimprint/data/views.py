"""The manifest as each analysis reads it: the labelled and test real images of a membership
dataset and the generated images each split is scored against, the generated images of an
attribution dataset by split. Every stage takes its rows from here, so a role or split is
read one way everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from medimprint.errors import InputError


def training_labels(manifest: pd.DataFrame) -> pd.DataFrame:
    """The labelled real training images (``id``, ``label`` as 0/1 ints), checked to hold both
    classes."""
    rows = manifest[(manifest["role"] == "real") & (manifest["split"] == "train")]
    labels = rows["label"].astype(int)
    if labels.nunique() < 2:
        raise InputError(
            "membership needs both used and not-used real training images (real_used and "
            f"real_not_used), got {len(rows)} images of {labels.nunique()} class(es); add the "
            "missing class to the dataset"
        )
    return pd.DataFrame({"id": rows["id"].to_numpy(), "label": labels.to_numpy()})


def real_test_ids(manifest: pd.DataFrame) -> list[str]:
    """Ids of the real test images (status unknown to the method)."""
    return manifest.loc[(manifest["role"] == "real") & (manifest["split"] == "test"), "id"].tolist()


def real_test_labels(manifest: pd.DataFrame) -> pd.Series | None:
    """Test labels (0/1 by id) when the dataset has them, for evaluation only."""
    rows = manifest[(manifest["role"] == "real") & (manifest["split"] == "test")]
    if rows.empty or (rows["label"] == "").any():
        return None
    return pd.Series(rows["label"].astype(int).to_numpy(), index=rows["id"].to_numpy())


def generated_ids(manifest: pd.DataFrame, split: str) -> list[str]:
    """Ids of the generated images the real images of ``split`` are scored against: for the
    test split its own generated images when the dataset gives them
    (``membership.generated_test``: the task may ship the test split from another generator),
    else the training split's."""
    generated = manifest[manifest["role"] == "generated"]
    of_test = generated["split"] == "test"
    if split == "test" and of_test.any():
        return generated.loc[of_test, "id"].tolist()
    return generated.loc[~of_test, "id"].tolist()


def has_test_generator(manifest: pd.DataFrame) -> bool:
    """Whether the test split has generated images of its own."""
    return bool(((manifest["role"] == "generated") & (manifest["split"] == "test")).any())


def generated_rows(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The generated images of one split (``train``: labelled generators, ``test``: mixed)."""
    return manifest[(manifest["role"] == "generated") & (manifest["split"] == split)]


@dataclass(frozen=True)
class MembershipView:
    """A membership dataset as every decision reads it, built once (`of`) and passed whole
    rather than as five loose arguments: the labelled training images, the test images, their
    labels (read only after every decision), the groups, and whether the test split has a
    generator of its own."""

    #: the labelled real training images: id, label (0/1)
    train: pd.DataFrame
    #: ids of the real test images
    test: list[str]
    #: test labels by id, for evaluation only; None when the dataset has none
    truth: pd.Series | None = None
    #: group (patient, block, segment) by real image id; None: each image its own group
    groups: pd.Series | None = None
    #: the test split is scored against generated images of its own
    test_generator: bool = False

    @classmethod
    def of(cls, manifest: pd.DataFrame, groups: pd.Series | None = None) -> MembershipView:
        return cls(
            training_labels(manifest),
            real_test_ids(manifest),
            real_test_labels(manifest),
            groups,
            has_test_generator(manifest),
        )


@dataclass(frozen=True)
class SubsetsView:
    """A training-subset dataset as every run reads it, built once (`of`): the real images of
    each subset, the generated images labelled by the subset their generator learned, the
    unknown generated images to assign, and their labels (read only after every decision)."""

    #: the real images: id, subset
    real: pd.DataFrame
    #: the labelled generated images: id, subset
    labelled: pd.DataFrame
    #: ids of the unknown generated images
    unknown: list[str]
    #: test labels (subset by id), for evaluation only; None when the dataset has none
    truth: pd.Series | None = None

    @property
    def subsets(self) -> list[str]:
        """The subsets an image may be assigned to: those with labelled generated images."""
        return sorted(self.labelled["subset"].unique())

    @classmethod
    def of(cls, manifest: pd.DataFrame) -> SubsetsView:
        def rows(role: str, split: str) -> pd.DataFrame:
            part = manifest[(manifest["role"] == role) & (manifest["split"] == split)]
            return pd.DataFrame({"id": part["id"].to_numpy(), "subset": part["label"].to_numpy()})

        real, labelled, unknown = (
            rows("real", "train"),
            rows("generated", "train"),
            rows("generated", "test"),
        )
        if labelled["subset"].nunique() < 2 or unknown.empty or real.empty:
            raise InputError(
                "training-subset identification needs real images and labelled generated images "
                f"of at least 2 subsets and unknown generated images; got {len(real)} real, "
                f"{len(labelled)} labelled generated of {labelled['subset'].nunique()} subset(s) "
                f"and {len(unknown)} unknown; check the dataset's subsets globs"
            )
        given = unknown["subset"]
        truth = None
        if (given != "").all():
            truth = pd.Series(given.to_numpy(), index=unknown["id"].to_numpy())
        return cls(real, labelled, unknown["id"].tolist(), truth)

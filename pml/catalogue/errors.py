"""Errors of catalogue releases and of the look-ups and checks that read the active release."""

from __future__ import annotations

from pml.errors import DomainError, NotFound


class CatalogueUnavailable(DomainError):
    """No release is active (or this node has not compiled it yet): interaction checks cannot be trusted."""

    problem_type = "catalogue-unavailable"
    title = "No drug catalogue release is active"
    status = 503


class ReleaseNotFound(NotFound):
    problem_type = "catalogue-release-not-found"
    title = "No such catalogue release"


class ReleaseNotActivatable(DomainError):
    """Only a fully loaded release can become active; a loading or failed one never can."""

    problem_type = "catalogue-release-not-activatable"
    title = "That catalogue release cannot be activated"
    status = 409


class NoPreviousRelease(DomainError):
    problem_type = "catalogue-no-previous-release"
    title = "There is no previous catalogue release to roll back to"
    status = 409


class CatalogueLoadFailed(DomainError):
    """A file could not be loaded (malformed, truncated, refused as unsafe, or the database failed).

    The release it would have become is marked failed with this message; the active release is untouched.
    """

    problem_type = "catalogue-load-failed"
    title = "The catalogue file could not be loaded"
    status = 422


class ProductNotFound(NotFound):
    problem_type = "catalogue-product-not-found"
    title = "No such product in the active catalogue release"


class PackageNotFound(NotFound):
    problem_type = "catalogue-package-not-found"
    title = "No such package (varenr) in the active catalogue release"

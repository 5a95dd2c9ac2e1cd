"""A trial's artifacts under their own file names, where a person opening the study's folder sees them.

Optuna's :class:`~optuna.artifacts.FileSystemArtifactStore` keeps each upload as an extension-less UUID (the id
optuna-dashboard serves it by); that store stays as it is. Beside it, each upload gets a second name::

    studies/recon/artifacts/6a2b56c5-…                       Optuna's, served by the dashboard
    studies/recon/trials/0007/reconstructions.png            the same file, a hard link (no second copy)

A hard link needs the same file system, which a folder beside the store almost always is; where one cannot be made
(a file system without them), the name is a relative symbolic link instead. The name is a convenience: where
neither can be made the artifact is still stored, and readers (``search best``) show its stored path.
An artifact folder given with ``--artifacts`` (shared by several studies, perhaps) names its files in
``<folder>-by-trial/<study>/0007/`` beside it instead.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from optuna.artifacts import ArtifactMeta


def names_folder(artifact_dir: str | Path, study_name: str) -> Path:
    """Where ``study_name``'s artifacts stored in ``artifact_dir`` get their names: ``studies/<study>/trials`` for the
    default layout (``studies/<study>/artifacts``), else ``<artifact_dir>-by-trial/<study>``."""
    folder = Path(artifact_dir)
    if folder.name == "artifacts" and folder.parent.name == study_name:
        return folder.parent / "trials"
    return folder.with_name(f"{folder.name or 'artifacts'}-by-trial") / study_name


def named_path(artifact_dir: str | Path, study_name: str, number: int, filename: str) -> Path:
    """The readable name of trial ``number``'s artifact ``filename``: ``…/trials/0007/reconstructions.png``."""
    name = Path(filename).name
    if name in ("", ".", ".."):
        raise ValueError(f"filename: expected a file name, got {filename!r}")
    return names_folder(artifact_dir, study_name) / f"{number:04d}" / name


def name_artifact(artifact_dir: str | Path, study_name: str, number: int, artifact_id: str, filename: str) -> Path | None:
    """Give the stored artifact ``artifact_id`` its readable name (:func:`named_path`); the name, or ``None`` where no
    link could be made. A name already there (a study of the same name deleted and run again) is replaced."""
    stored = Path(artifact_dir) / artifact_id
    target = named_path(artifact_dir, study_name, number, filename)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    # made under a unique name and renamed over the target: a reader never sees a half-made name, and an old one goes
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    for make in (_hard_link, _symbolic_link):
        try:
            make(stored, temporary)
        except OSError:
            continue
        try:
            os.replace(temporary, target)
        except OSError:
            temporary.unlink(missing_ok=True)
            return None
        return target
    return None


def _hard_link(stored: Path, name: Path) -> None:
    os.link(stored, name)


def _symbolic_link(stored: Path, name: Path) -> None:
    # relative, so that the study's folder can be moved or copied whole
    os.symlink(os.path.relpath(stored, name.parent), name)


def readable_path(artifact_dir: str | Path, study_name: str, number: int, meta: ArtifactMeta) -> Path:
    """Where a person opens trial ``number``'s artifact: its readable name where that is this very file, else the
    stored one (a study from before names were given, or a name that could not be made)."""
    stored = Path(artifact_dir) / meta.artifact_id
    try:
        named = named_path(artifact_dir, study_name, number, meta.filename)
        if os.path.samefile(named, stored):
            return named
    except (OSError, ValueError):
        pass
    return stored

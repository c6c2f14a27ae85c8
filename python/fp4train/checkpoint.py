"""Training checkpoints: all-or-nothing, checksummed, written atomically.

Public: save_checkpoint, load_checkpoint, has_checkpoint, CheckpointError.

A checkpoint of a run directory is two files:

- ``checkpoint-<step>.npz``: every array (model parameters and counters,
  optimizer moments, monitor state) in numpy's uncompressed npz format;
- ``checkpoint.json``: the manifest. It names the npz file and holds its
  SHA-256 and byte size, the step, and the run's JSON metadata (model size,
  recipe, data fingerprint, hyperparameters).

Saving writes the npz under its final step-stamped name, then replaces the
manifest atomically (write to a temporary file, fsync, ``os.replace``), and
only then deletes the previous npz. A crash at any point leaves a manifest
that names a complete file. Loading checks size and checksum before it
parses anything, so a truncated or corrupted checkpoint is refused and
nothing is half-loaded.
"""
import hashlib
import io
import json
import os

import numpy as np

MANIFEST = "checkpoint.json"
_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, truncated or belongs to another run."""


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def has_checkpoint(directory):
    """True when ``directory`` holds a checkpoint manifest."""
    return os.path.isfile(os.path.join(os.fspath(directory), MANIFEST))


def save_checkpoint(directory, step, arrays, meta):
    """Write ``arrays`` (name -> ndarray or number) and ``meta`` (JSON-able) at ``step``.

    Returns the path of the npz file.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    payload = buf.getvalue()
    name = f"checkpoint-{int(step):08d}.npz"
    previous = _read_manifest(directory).get("file") if has_checkpoint(directory) else None
    _write_atomic(os.path.join(directory, name), payload)
    manifest = {"format": _FORMAT, "file": name, "sha256": _sha256(payload),
                "bytes": len(payload), "step": int(step), "meta": meta}
    _write_atomic(os.path.join(directory, MANIFEST),
                  (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    if previous and previous != name:
        try:
            os.remove(os.path.join(directory, previous))
        except FileNotFoundError:
            pass
    return os.path.join(directory, name)


def _read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint in '{directory}' ({MANIFEST} is missing)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint manifest '{path}' is corrupted: {e}") from None
    keys = {"format", "file", "sha256", "bytes", "step", "meta"}
    if not isinstance(manifest, dict) or not keys <= set(manifest):
        raise CheckpointError(f"checkpoint manifest '{path}' is corrupted: expected the keys "
                              f"{sorted(keys)}")
    if manifest["format"] != _FORMAT:
        raise CheckpointError(f"checkpoint '{path}' has format {manifest['format']!r}, "
                              f"this version reads format {_FORMAT}")
    return manifest


def load_checkpoint(directory):
    """Read and verify the checkpoint of ``directory``.

    Returns ``(step, arrays, meta)`` with ``arrays`` a dict of ndarrays.
    Raises :class:`CheckpointError` when the manifest is missing or damaged,
    or when the npz file is missing, truncated or fails its checksum.
    """
    directory = os.fspath(directory)
    manifest = _read_manifest(directory)
    name = manifest["file"]
    if not isinstance(name, str) or os.path.basename(name) != name:
        raise CheckpointError(f"checkpoint manifest in '{directory}' names an invalid file {name!r}")
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as f:
            payload = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file '{path}' is missing") from None
    if len(payload) != manifest["bytes"]:
        raise CheckpointError(f"checkpoint file '{path}' is truncated or was changed: "
                              f"{len(payload)} bytes, the manifest says {manifest['bytes']}")
    if _sha256(payload) != manifest["sha256"]:
        raise CheckpointError(f"checkpoint file '{path}' is corrupted: its SHA-256 does not "
                              "match the manifest")
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return int(manifest["step"]), arrays, manifest["meta"]

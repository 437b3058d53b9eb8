"""Question -> Answer: the one search path, one module per stage (see pipeline.py)."""

from index.search.fusion import FUSIONS, fuse
from index.search.pipeline import MODES, Searcher
from index.search.ranking import diversify
from index.search.records import Answer, Candidates, Citation, Decision, Hit, Ranking, Reading, SourceSays

__all__ = [
    "FUSIONS", "MODES", "Answer", "Candidates", "Citation", "Decision", "Hit", "Ranking", "Reading", "Searcher",
    "SourceSays", "diversify", "fuse",
]

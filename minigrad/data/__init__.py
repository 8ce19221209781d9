from .words import analogies, analogy_corpus, family_names, family_words, sentiment_corpus  # noqa: F401

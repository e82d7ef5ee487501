"""The explanation shown to the user is bounded without cutting a word or a sentence in half."""

from editseq.explain import shorten


def test_short_text_is_kept_whole():
    assert shorten("Returns the area.", 40) == "Returns the area."


def test_cut_after_the_last_whole_sentence_that_fits():
    text = "Computes the area of a circle. It multiplies pi by the radius squared and returns it."
    assert shorten(text, 50) == "Computes the area of a circle."


def test_cut_after_a_whole_word_with_an_ellipsis_when_no_sentence_fits():
    text = "Computes the area of a circle from its radius by multiplying pi with the square"
    short = shorten(text, 40)
    assert len(short) <= 40 and short.endswith("…")
    assert text.startswith(short[:-1]) and text[len(short) - 1] == " "

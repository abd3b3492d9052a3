"""A tiny Hugging Face Trainer run with XprofCallback (argv: OUTPUT_DIR); under `xprof run`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integrations.tiny_models import tiny_bert_trainer
from xprof.agent.integrations.huggingface import XprofCallback

tiny_bert_trainer(Path(sys.argv[1]), [XprofCallback()]).train()

"""A tiny Hugging Face Trainer run with XprofCallback that dies at step 6 of 8 (argv: OUTPUT_DIR
LOG_FILE HOW). Under `xprof run`. Every log the Trainer hands its callbacks is also appended
to LOG_FILE (what the test compares with the store). At step 4 the run pauses past the
callback's write interval, so step 5's log is written with everything before it; step 6 is
logged, then the process ends: HOW "os_exit" with ``os._exit(3)`` (no atexit, no finally, as
SIGKILL or an OOM kill), HOW "sys_exit" with ``sys.exit(3)`` (atexit runs)."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from transformers import TrainerCallback

from tests.integrations.tiny_models import tiny_bert_trainer
from xprof.agent.integrations.channel import FLUSH_S
from xprof.agent.integrations.huggingface import XprofCallback

output_dir, log_file, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]


class Dies(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        with open(log_file, "a") as fh:
            fh.write(json.dumps({"step": state.global_step, "logs": logs}) + "\n")
        if state.global_step == 4:
            time.sleep(FLUSH_S + 0.3)  # the next log is past the write interval
        if state.global_step == 6:
            if how == "os_exit":
                os._exit(3)
            sys.exit(3)


tiny_bert_trainer(output_dir, [XprofCallback(), Dies()]).train()

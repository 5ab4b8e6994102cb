"""A BART that misbehaves on purpose, shipped as checkpoint code (needs trust_remote_code).

config.fault says how: "hang_init" sleeps in __init__, "exit_at" calls os._exit in the N-th
training forward, "raise_at" raises there, "segfault_at" kills itself with SIGSEGV.
"""

import os
import signal
import time

from transformers import BartConfig, BartForConditionalGeneration


class FaultyConfig(BartConfig):
    model_type = "faulty-bart"

    def __init__(self, fault="none", fault_step=1, **kwargs):
        self.fault = fault
        self.fault_step = fault_step
        super().__init__(**kwargs)


class FaultyModel(BartForConditionalGeneration):
    config_class = FaultyConfig

    def __init__(self, config):
        if config.fault == "hang_init":
            time.sleep(3600)
        super().__init__(config)
        self._training_calls = 0
        # A hook rather than a forward override keeps BART's own forward signature for Trainer.
        self.register_forward_pre_hook(self._maybe_fail)

    def _maybe_fail(self, module, args):
        if not self.training:
            return
        self._training_calls += 1
        if self._training_calls != self.config.fault_step:
            return
        if self.config.fault == "exit_at":
            os._exit(17)
        if self.config.fault == "segfault_at":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.config.fault == "raise_at":
            raise RuntimeError(f"injected fault at training step {self.config.fault_step}")

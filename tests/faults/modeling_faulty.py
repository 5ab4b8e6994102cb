"""A BART that misbehaves on purpose, shipped as checkpoint code (needs trust_remote_code).

config.fault says how: "hang_init" sleeps in __init__; at the N-th training forward, "exit_at"
calls os._exit, "raise_at" raises, "segfault_at" kills itself with SIGSEGV, "hang_at" sleeps;
"disk_full_at_save" fails every save of its weights as a full disk does (ENOSPC), or only the saves
into directories whose path holds config.fault_path when that is set. config.fault_rank limits the
fault to one data-parallel worker (RANK); config.fault_once skips it once its marker file exists.
config.fault_marker names a file that gets the wall-clock time of the fault. config.memory_per_example_mb makes every training forward allocate that much per example, the
way long sequences do, so a batch can be too large for a memory limit.
"""

import errno
import os
import signal
import time

import torch
from transformers import BartConfig, BartForConditionalGeneration


class FaultyConfig(BartConfig):
    model_type = "faulty-bart"

    def __init__(self, fault="none", fault_step=1, memory_per_example_mb=0, fault_marker=None, fault_path=None,
                 fault_rank=None, fault_once=False, **kwargs):
        self.fault = fault
        self.fault_rank = fault_rank
        self.fault_once = fault_once
        self.fault_path = fault_path
        self.fault_step = fault_step
        self.fault_marker = fault_marker
        self.memory_per_example_mb = memory_per_example_mb
        super().__init__(**kwargs)


class FaultyModel(BartForConditionalGeneration):
    config_class = FaultyConfig

    def __init__(self, config):
        if config.fault == "hang_init":
            time.sleep(3600)
        super().__init__(config)
        self._training_calls = 0
        # A hook rather than a forward override keeps BART's own forward signature for Trainer.
        self.register_forward_pre_hook(self._maybe_fail, with_kwargs=True)

    def _maybe_fail(self, module, args, kwargs):
        if not self.training:
            return
        if self.config.memory_per_example_mb:
            batch = kwargs["input_ids"].shape[0]
            torch.ones(batch * self.config.memory_per_example_mb * 2**18)  # 4-byte floats
        self._training_calls += 1
        if self._training_calls != self.config.fault_step:
            return
        if self.config.fault_rank is not None and os.environ.get("RANK", "0") != str(self.config.fault_rank):
            return
        if self.config.fault_once and self.config.fault_marker and os.path.exists(self.config.fault_marker):
            return  # it happened on an earlier attempt
        if self.config.fault_marker:  # when the fault happened, for detection-time benchmarks
            with open(self.config.fault_marker, "w") as handle:
                handle.write(repr(time.time()))
        if self.config.fault == "exit_at":
            os._exit(17)
        if self.config.fault == "segfault_at":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.config.fault == "raise_at":
            raise RuntimeError(f"injected fault at training step {self.config.fault_step}")
        if self.config.fault == "hang_at":
            time.sleep(3600)

    def save_pretrained(self, save_directory, *args, **kwargs):
        where = self.config.fault_path
        if self.config.fault == "disk_full_at_save" and (not where or where in str(save_directory)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(save_directory))
        return super().save_pretrained(save_directory, *args, **kwargs)

"""Run by tests/test_train.py under `torchrun --nproc_per_node=2`: trains a few steps with gloo
and writes each rank's final weights to OUT/rank{r}.safetensors for comparison."""

import sys
from pathlib import Path

from ssnlib.io.serialization import save_tensors
from ssnlib.paper.presets import get_preset
from ssnlib.train import train

out = Path(sys.argv[1])
config = get_preset("ci").train_config(out=str(out / "run"), kimg=0.048, batch_size=8, mbstd_group=2,
                                 r1_interval=2, pl_interval=2, lambda_d=1.0)
trainer = train(config)
rank = trainer.env.rank
save_tensors(out / f"rank{rank}.safetensors",
             {**{f"G.{k}": v for k, v in trainer.G.state_dict().items()},
              **{f"D.{k}": v for k, v in trainer.D.state_dict().items()},
              **{f"G_ema.{k}": v for k, v in trainer.G_ema.state_dict().items()}},
             {"step": trainer.step, "world_size": trainer.env.world_size})

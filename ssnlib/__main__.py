"""Command line: `python -m ssnlib {train,data} …` (see README)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .train import TrainConfig


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field. Defaults come from the preset (so all parse to None); the
    help shows the `cpu` preset's value."""
    from .paper.presets import DEFAULT_PRESET, PRESETS, get_preset
    from .train import FIELD_CHOICES, FIELD_HELP, TrainConfig

    defaults = get_preset(DEFAULT_PRESET).train_config()
    parser.add_argument("--resume", metavar="RUN",
                        help="continue a run exactly: its directory or one of its checkpoint files (its own "
                             "config.json / checkpoint config is used; flags given override it)")
    for f in dataclasses.fields(TrainConfig):
        value = getattr(defaults, f.name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
        help_text = f"{FIELD_HELP[f.name]} ({DEFAULT_PRESET} preset: {shown})"
        if f.name == "preset":
            help_text = (f"{FIELD_HELP[f.name]}: " + "; ".join(f"{p.name} — {p.description}" for p in PRESETS.values())
                         + f" (default: {DEFAULT_PRESET})")
            parser.add_argument("--preset", default=None, choices=list(PRESETS), help=help_text)
        elif f.type in ("bool", bool):
            parser.add_argument(_flag(f.name), dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                                help=help_text)
        elif f.name in ("grid", "betas", "background"):
            kind = float if f.name == "betas" else int
            metavar = {"grid": ("ROWS", "COLS"), "betas": ("B1", "B2"), "background": ("R", "G", "B")}[f.name]
            parser.add_argument(_flag(f.name), dest=f.name, default=None, nargs=len(metavar), type=kind,
                                help=help_text, metavar=metavar)
        else:
            kind = {"int": int, "float": float, "int | None": int, "float | None": float}.get(str(f.type), str)
            parser.add_argument(_flag(f.name), dest=f.name, default=None, type=kind, help=help_text,
                                choices=FIELD_CHOICES.get(f.name))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig: the preset's values (or, with --resume, the run's own), then the flags given."""
    from .paper.presets import get_preset
    from .train import TrainConfig, resume_source

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    if args.resume and "preset" not in overrides:
        _, saved = resume_source(args.resume)
        return TrainConfig.from_dict({**saved, **overrides})
    preset = overrides.pop("preset", None)
    return get_preset(preset).train_config(**overrides)


def _train(args: argparse.Namespace) -> None:
    from .train import train

    config = config_from_args(args)
    trainer = train(config, resume=args.resume)
    logging.getLogger("ssnlib").info("run finished: %s", trainer.out)


def _data_export(args: argparse.Namespace) -> None:
    from .data import export_pngs

    export_pngs(args.dataset, args.n, args.resolution, args.out_dir, seed=args.seed)


def _export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .io.serialization import save_generator
    from .io.stylegan2_import import load
    from .train import FINAL_GENERATOR, latest_checkpoint

    source = Path(args.source)
    if source.is_dir():
        final = source / FINAL_GENERATOR
        if not final.exists():
            raise FileNotFoundError(f"{source} has no {FINAL_GENERATOR} (is the run finished? latest checkpoint: "
                                    f"{latest_checkpoint(source)})")
        source = final
    generator = load(source)
    out = Path(args.out) if args.out else Path(args.source).with_suffix(".safetensors")
    if args.half:
        generator = generator.half()
    save_generator(out, generator, extra={"exported_from": str(args.source)})
    logging.getLogger("ssnlib").info("wrote %s (load it with ssnlib.load)", out)


def _ship(args: argparse.Namespace) -> None:
    from .paper.presets import get_preset
    from .paper.runs import ship_runs

    written = ship_runs(get_preset(args.preset).name, args.runs, args.models)
    print(f"{len(written)} generators, {sum(p.stat().st_size for p in written) / 1e6:.1f} MB")


def _zoo(args: argparse.Namespace) -> None:
    from .paper.zoo import train_zoo

    for path in train_zoo(args.preset, args.jobs, use_shipped=not args.retrain):
        print(path)


def _run_preset(run: str) -> str | None:
    """The preset a run was trained at (its config.json), None where that file cannot tell."""
    import json
    from pathlib import Path

    config = Path(run) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{run} is not a run directory (no config.json)")
    return json.loads(config.read_text()).get("preset")


def _eval(args: argparse.Namespace) -> None:
    from .evaluate import evaluate_run, format_table, parse_metrics
    from .paper.presets import get_preset

    overrides = {k: v for k, v in dict(n_fd=args.n_fd, n_ppl=args.n_ppl, n_distortion=args.n_distortion,
                                       batch_size=args.batch_size, device=args.device, seed=args.seed,
                                       ppl_crop=args.ppl_crop).items() if v is not None}
    preset = get_preset(args.preset or _run_preset(args.run))
    results = evaluate_run(args.run, parse_metrics(args.metrics), preset.name, **{**preset.eval, **overrides})
    print(format_table(results))


def _summary(args: argparse.Namespace) -> None:
    from .paper.reporting import write_summary

    logging.getLogger("ssnlib").info("wrote %s", write_summary(args.preset))


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake prints one `error:` line and where to read the flags, not the whole
    usage of 50 flags."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m ssnlib", description="Spatially Stochastic Networks")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = Parser(add_help=False)  # --debug after the command name too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    train = commands.add_parser("train", parents=[common],
                                help="train an SSN or StyleGAN2 (single process or under torchrun)")
    add_train_arguments(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", parents=[common],
                                   help="compute metrics of a trained run; prints a table, writes JSON")
    evaluate.add_argument("run", help="a run directory (with generator.safetensors and config.json)")
    evaluate.add_argument("--metrics", default="fd_proc,ppl_proc,distortion",
                          help="comma-separated: fid, kid, ppl (canonical weights needed), fd_proc, prc_proc, "
                               "ppl_proc, distortion")
    evaluate.add_argument("--preset", help="sample counts from this preset (default: the run's)")
    for flag, what in (("--n-fd", "samples for FD-proc / FID"), ("--n-ppl", "samples for PPL"),
                       ("--n-distortion", "single-block resamples for distortion"),
                       ("--batch-size", "generation batch"), ("--seed", "evaluation seed")):
        evaluate.add_argument(flag, type=int, help=f"{what} (default: the preset's)")
    evaluate.add_argument("--device", help="cpu, cuda, … (default: cpu)")
    evaluate.add_argument("--ppl-crop", action="store_true", default=None, help="StyleGAN2's FFHQ face crop for PPL")
    evaluate.set_defaults(handler=_eval)

    export = commands.add_parser("export", parents=[common],
                                 help="write one generator (+ config) file that ssnlib.load reads")
    export.add_argument("source", help="a run directory, or a .safetensors / rosinality .pt / NVlabs .pkl file")
    export.add_argument("--format", choices=["safetensors"], default="safetensors")
    export.add_argument("--out", help="output file (default: SOURCE.safetensors)")
    export.add_argument("--half", action="store_true", help="store fp16 tensors (half the size)")
    export.set_defaults(handler=_export)

    zoo = commands.add_parser("zoo", parents=[common],
                              help="train (or find) every model the notebooks use at a preset, in parallel")
    zoo.add_argument("--preset", help="the preset whose models to train (default: cpu)")
    zoo.add_argument("--jobs", type=int, default=1, help="training processes at once (2 on 2 cores)")
    zoo.add_argument("--retrain", action="store_true", help="ignore the shipped generators (as `make retrain`)")
    zoo.set_defaults(handler=_zoo)

    ship = commands.add_parser("ship", parents=[common],
                               help="copy every finished run of a preset to models/<preset>/ as fp16 "
                                    "(what `make reproduce` loads instead of retraining)")
    ship.add_argument("--preset", help="the preset whose runs to ship (default: cpu)")
    ship.add_argument("--runs", help="runs root (default: $SSNLIB_RUNS or runs/)")
    ship.add_argument("--models", help="models root (default: $SSNLIB_MODELS or models/)")
    ship.set_defaults(handler=_ship)

    summary = commands.add_parser("summary", parents=[common],
                                  help="assemble results/<preset>/summary.md from the notebooks' claims")
    summary.add_argument("--preset", help="the preset whose results to summarise (default: cpu)")
    summary.set_defaults(handler=_summary)

    data = commands.add_parser("data", help="procedural datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    pngs = data_commands.add_parser("export", parents=[common],
                                    help="write procedural images as PNG files + labels")
    pngs.add_argument("--dataset", choices=["faces", "churches"], required=True, help="which procedural family")
    pngs.add_argument("--n", type=int, required=True, help="how many images to write")
    pngs.add_argument("--resolution", type=int, default=64, help="image size (default: 64)")
    pngs.add_argument("--seed", type=int, default=0, help="the procedural stream's seed (default: 0)")
    pngs.add_argument("out_dir", help="folder to write NNNNNN.png files and labels.json into")
    pngs.set_defaults(handler=_data_export)
    return parser


# What a user's mistake raises (a bad flag value, path, file or dataset): one `error:` line, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        args.handler(args)
    except USER_ERRORS as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m ssnlib {train,generate,project,resample,eval,export,zoo,ship,summary,data} …`
(see README)."""

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


OFF = object()  # what `--ema-rampup ''` (or 'none') parses to: set the optional field to None, not "not given"


def _optional(kind: type):
    """A flag type for an optional numeric field: '' or 'none' turns the setting off."""
    def parse(text: str):
        return OFF if text.strip().lower() in ("", "none") else kind(text)
    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


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
            kind = {"int": int, "float": float, "int | None": _optional(int),
                    "float | None": _optional(float)}.get(str(f.type), str)
            parser.add_argument(_flag(f.name), dest=f.name, default=None, type=kind, help=help_text,
                                choices=FIELD_CHOICES.get(f.name))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig: the preset's values (or, with --resume, the run's own), then the flags given."""
    from .paper.presets import get_preset
    from .train import TrainConfig, resume_source

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name, None) is not None}
    overrides = {name: None if value is OFF else value for name, value in given.items()}
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
    from .train import read_network, save_networks

    out = Path(args.out) if args.out else Path(args.source).with_suffix(".safetensors")
    if out.resolve() == Path(args.source).resolve():
        raise ValueError(f"export {args.source}: the output would overwrite the source; pass --out")
    if args.networks:
        if args.half:
            raise ValueError("export --networks keeps float32 weights (a base to train from): drop --half")
        save_networks(args.source, out, "export")
        logging.getLogger("ssnlib").info("wrote %s (G, G_ema, D: start a run from it with --init-from)", out)
        return
    generator = read_network(args.source, "export")
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


def _run_preset(run) -> str | None:
    """The preset a run was trained at (its config.json), None where that file cannot tell."""
    import json
    from pathlib import Path

    config = Path(run) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{run} is not a run directory (no config.json)")
    return json.loads(config.read_text()).get("preset")


def _eval(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .evaluate import evaluate_run, format_table, parse_metrics
    from .paper.presets import get_preset
    from .train import read_network

    overrides = {k: v for k, v in dict(n_fd=args.n_fd, n_ppl=args.n_ppl, n_distortion=args.n_distortion,
                                       batch_size=args.batch_size, device=args.device, seed=args.seed,
                                       ppl_crop=args.ppl_crop).items() if v is not None}
    run, snapshot, generator = Path(args.run), None, None
    if run.is_file():  # RUN/best.safetensors or RUN/checkpoints/ckpt-….safetensors: that snapshot's G_ema
        snapshot, generator = run, read_network(args.run, "eval")
        run = run.parent.parent if run.parent.name == "checkpoints" else run.parent
    preset = get_preset(args.preset or _run_preset(run))
    label = preset.name if snapshot is None else f"{preset.name}-{snapshot.stem}"
    results = evaluate_run(run, parse_metrics(args.metrics), label, generator, **{**preset.eval, **overrides})
    print(format_table(results))


def _summary(args: argparse.Namespace) -> None:
    from .paper.reporting import write_summary

    logging.getLogger("ssnlib").info("wrote %s", write_summary(args.preset))


# ----------------------------------------------------------------------------------------------
# generate / project / resample (NVlabs' names and conventions)


def parse_seeds(text: str) -> list[int]:
    """'0-7', '1,5,9' or '0-3,10' → the seeds (ranges inclusive, as NVlabs' `num_range`)."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        if not part or not low.isdigit() or (dash and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: expected numbers and ranges like 0-7,10")
        seeds += list(range(int(low), int(high) + 1)) if dash else [int(low)]
    return seeds


def parse_cell(text: str) -> tuple[int, int]:
    """'1,2' → the cell (row 1, column 2)."""
    row, _, col = text.partition(",")
    if not (row.strip().isdigit() and col.strip().isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: a cell is ROW,COL (e.g. 1,2)")
    return int(row), int(col)


def _load_network(path: str, need_grid: bool = False):
    from .train import read_network

    G = read_network(path, "--network")
    if need_grid and not hasattr(G, "grid"):
        raise ValueError(f"--network {path} is a {type(G).__name__}: this command needs an SSN (a latent grid); "
                         "a StyleGAN2 checkpoint becomes one with `python -m ssnlib train --transfer`")
    return G


def _save_png(image, path, upscale: int = 1) -> None:
    from PIL import Image

    from .viz import to_uint8

    picture = Image.fromarray(to_uint8(image[None] if image.ndim == 3 else image)[0])
    if upscale > 1:
        picture = picture.resize((picture.width * upscale, picture.height * upscale), Image.NEAREST)
    picture.save(path)


def _save_strip(images, path, upscale: int = 1) -> None:
    import torch

    _save_png(torch.cat(list(images), dim=3), path, upscale)


def _generate(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch

    G = _load_network(args.network)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for seed in args.seeds:
            z = G.sample_z(1, torch.Generator().manual_seed(seed))
            _save_png(G(z, truncation_psi=args.trunc, noise_mode=args.noise_mode), outdir / f"seed{seed:04d}.png",
                      args.upscale)
    logging.getLogger("ssnlib").info("wrote %d images to %s", len(args.seeds), outdir)


def _project(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch

    from .data import load_image
    from .projection import fit_target, project

    G = _load_network(args.network, need_grid=True)
    target, note = fit_target(load_image(args.target), G.resolution)
    log = logging.getLogger("ssnlib")
    if note:
        log.info("--target %s: %s", args.target, note)
    result = project(G, target, steps=args.steps, per_layer=args.per_layer, optimize_noise=not args.fixed_noise,
                     generator=torch.Generator().manual_seed(args.seed))
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    result.latent.meta.update(target=str(args.target), network=str(args.network))
    result.latent.save(outdir / "projected_latent.safetensors")
    _save_png(result.image, outdir / "proj.png", args.upscale)
    _save_png(target, outdir / "target.png", args.upscale)
    _save_strip([target[None], result.image], outdir / "target_vs_proj.png", args.upscale)
    log.info("wrote %s: PSNR %.2f dB, distance %s, %d steps", outdir, result.latent.meta["psnr"][0],
             result.distance, args.steps)


def _resample(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch

    from .blocks import BlockGrid, resample
    from .projection import ProjectedLatent, resample_projected

    if not 0 < args.strength <= 1 or args.count < 1:
        raise ValueError(f"--strength must be in (0, 1] and --count at least 1, got {args.strength} and {args.count}")
    G = _load_network(args.network, need_grid=True)
    grid = BlockGrid.for_generator(G)
    for cell in args.cells:
        grid.check_cell(cell)
    rng = torch.Generator().manual_seed(args.resample_seed)
    with torch.no_grad():
        if args.latent:
            latent = ProjectedLatent.load(args.latent)
            latent.check_for(G)
            original = latent.render(G)
            images = [resample_projected(G, latent, args.cells, args.strength, rng).render(G)
                      for _ in range(args.count)]
        else:
            z = G.sample_z(1, torch.Generator().manual_seed(args.seed))  # as `generate`: const noise
            original = G(z, noise_mode="const")
            images = [G(resample(z, args.cells, rng, args.strength), noise_mode="const") for _ in range(args.count)]
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _save_png(original, outdir / "original.png", args.upscale)
    for i, image in enumerate(images):
        _save_png(image, outdir / f"resample{i:02d}.png", args.upscale)
    _save_strip([original, *images], outdir / "strip.png", args.upscale)
    logging.getLogger("ssnlib").info("wrote %s: the original and %d resamples of cells %s", outdir, len(images),
                                     " ".join(f"{r},{c}" for r, c in args.cells))


def _add_image_commands(commands, common) -> None:
    network = dict(required=True, help="generator: .safetensors (ssnlib), .pt (rosinality), .pkl (NVlabs) or a run "
                                       "directory")
    upscale = dict(type=int, default=1, help="enlarge the PNGs this many times (nearest neighbour; default 1)")

    generate = commands.add_parser("generate", parents=[common], help="images from seeds, one PNG each")
    generate.add_argument("--network", **network)
    generate.add_argument("--seeds", type=parse_seeds, required=True, help="seeds, e.g. 0-7 or 1,5,9")
    generate.add_argument("--trunc", type=float, default=1.0, help="truncation ψ (default 1: none)")
    generate.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                          help="noise inputs (default: const, as NVlabs' generate.py)")
    generate.add_argument("--outdir", required=True, help="folder for seedNNNN.png")
    generate.add_argument("--upscale", **upscale)
    generate.set_defaults(handler=_generate)

    proj = commands.add_parser("project", parents=[common],
                               help="find the SSN latent grid (and noise) that reconstructs an image")
    proj.add_argument("--network", **network)
    proj.add_argument("--target", required=True, help="image file (any size: centre-cropped and resized, with a note)")
    proj.add_argument("--outdir", required=True,
                      help="folder for proj.png, target.png, target_vs_proj.png, projected_latent.safetensors")
    proj.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    proj.add_argument("--seed", type=int, default=0, help="seed of the start noise and the w perturbations")
    proj.add_argument("--per-layer", action="store_true", help="one w grid per layer (W+), not one shared by all")
    proj.add_argument("--fixed-noise", action="store_true", help="do not optimise the noise inputs")
    proj.add_argument("--upscale", **upscale)
    proj.set_defaults(handler=_project)

    res = commands.add_parser("resample", parents=[common],
                              help="redraw chosen cells of a generated or projected image, keep the rest")
    res.add_argument("--network", **network)
    source = res.add_mutually_exclusive_group(required=True)
    source.add_argument("--latent", help="a projected_latent.safetensors written by `project`")
    source.add_argument("--seed", type=int, help="the image `generate --seeds N` made")
    res.add_argument("--cells", type=parse_cell, nargs="+", required=True, metavar="ROW,COL",
                     help="cells to redraw, e.g. 1,1 1,2")
    res.add_argument("--strength", type=float, default=1.0,
                     help="how far to move (0, 1]: 1 redraws the cells from the prior (default 1)")
    res.add_argument("--count", type=int, default=4, help="resamples to draw (default 4)")
    res.add_argument("--resample-seed", type=int, default=0, help="seed of the redrawn cells (default 0)")
    res.add_argument("--outdir", required=True, help="folder for original.png, resampleNN.png, strip.png")
    res.add_argument("--upscale", **upscale)
    res.set_defaults(handler=_resample)


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

    _add_image_commands(commands, common)

    evaluate = commands.add_parser("eval", parents=[common],
                                   help="compute metrics of a trained run; prints a table, writes JSON")
    evaluate.add_argument("run", help="a run directory (with generator.safetensors and config.json), or one of its "
                                      "snapshots: RUN/best.safetensors, a checkpoint (RUN/eval-<preset>-<file>.json)")
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
    export.add_argument("--networks", action="store_true",
                        help="a training checkpoint's (or run's latest) G, G_ema and D with its config, without "
                             "optimizer state: a base that --init-from and ModelZoo(stylegan2_checkpoint=) start from")
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

"""Learning curves of the four video GANs on the synthetic action clips:
``python tools/run_video_curves.py --out outputs/video_curves --minutes 20``.

Trains the action classifier of the metrics once (``<out>/classifier.pth``, its held-out accuracy
in ``<out>/classifier.json``), then each model of ``configs/generators/<model>_synthetic.yaml`` for
``--minutes`` of training (evaluations not counted), ``--jobs`` at a time with ``--threads`` torch
threads each, evaluated every ``--eval-period`` iterations (FCD, classifier score, action
accuracy, ACD). Writes ``<out>/summary.json``, ``summary.md``, ``curves.png`` and one GIF of
samples per model; the last line printed is the summary as one JSON object. Run it again to
resume: finished models are not trained again (``--summarise-only`` rebuilds the summary).
``--set KEY VALUE`` (repeatable) overrides every model's config.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.record import machine_info  # noqa: E402
from generators.action_clips import ensure_action_clips  # noqa: E402
from generators.curve_runs import (DEFAULT_EVAL_PERIODS, MODELS, check_models,  # noqa: E402
                                   ensure_classifier, load_summary, run_models, summarise,
                                   summary_table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/video_curves")
    parser.add_argument("--minutes", type=float, default=20.0,
                        help="training minutes per model (evaluations not counted)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--eval-period", type=int, default=0,
                        help="iterations between evaluations (0 = each model's default: "
                             + ", ".join(f"{k} {v}" for k, v in DEFAULT_EVAL_PERIODS.items())
                             + ")")
    parser.add_argument("--jobs", type=int, default=1, help="models trained side by side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model")
    parser.add_argument("--clips", default="datasets/action_clips",
                        help="the synthetic action clips (built when missing)")
    parser.add_argument("--classifier-epochs", type=int, default=60)
    parser.add_argument("--summarise-only", action="store_true",
                        help="train nothing; rebuild the summary from the runs in --out")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="config override applied to every model (repeatable)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.jobs < 1 or args.threads < 1 or args.eval_period < 0:
        parser.error("--minutes must be > 0, --jobs and --threads >= 1, --eval-period >= 0")
    try:
        models = check_models(args.models)
    except ValueError as exc:
        parser.error(str(exc))
    os.makedirs(args.out, exist_ok=True)
    ensure_action_clips(args.clips)
    classifier = ensure_classifier(args.out, args.clips, print, args.classifier_epochs)
    print(f"action classifier: held-out accuracy {classifier['held_out_accuracy']:.4f}")
    status = {}
    if not args.summarise_only:
        periods = {m: args.eval_period or DEFAULT_EVAL_PERIODS[m] for m in models}
        extra = ["DATA.ROOT", os.path.abspath(args.clips),
                 *[item for pair in args.set for item in pair]]
        status = run_models(models, args.out, args.minutes,
                            os.path.join(args.out, classifier["weights"]), periods, args.jobs,
                            args.threads, extra=extra)
    previous = load_summary(args.out)
    if args.summarise_only and previous and previous.get("machine"):
        machine = previous["machine"]  # where and how the runs trained, not this call
    else:
        machine = machine_info()
        machine.update(torch_threads=args.threads, jobs=args.jobs)
    minutes = previous["budget_minutes"] if args.summarise_only and previous else args.minutes
    summary = summarise(models, args.out, minutes, classifier, machine)
    print(summary_table(summary))
    print(json.dumps(summary))
    failed = {m: rc for m, rc in status.items() if rc != 0}
    if failed:
        print(f"run_video_curves.py: error: training failed for {failed} (see "
              f"{args.out}/<model>.log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tune the default model on MRPC train, once per seed; report validation accuracy/F1 as mean and spread.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/mrpc.py            # the recorded recipe, 5 seeds
    .venv/bin/python benchmarks/mrpc.py --also-average 0.5 0.75 --name mrpc_recipe_lesson   # + weight averaging, same runs
    .venv/bin/python benchmarks/mrpc.py --recipe soup --name mrpc_recipe_soup      # another recipe, its own file
    .venv/bin/python benchmarks/mrpc.py --recipe lesson --seeds 42 --epochs 1 --train-limit 500 --label small

Each seed is one independent run: the seed sets the classifier head's initial weights, the order of
the training batches and dropout. Every run trains all its epochs and keeps what it ends with
(no epoch is chosen on validation), so the 408 validation pairs are scored once per run, and the
spread over seeds is what a learner re-running the lesson with another seed should expect.

Recipes (``--recipe``; any flag given after it overrides its settings):
  lesson    lesson 05's settings: peak LR 1e-4, 3 epochs, 10 % warm-up, batch 32
  mosbach   a lower peak LR for longer with warm-up (Mosbach et al. 2021; Keras' AdamW already has
            Adam's bias correction): 5e-5, 5 epochs
  average   lesson + the weights averaged over the second half of training (SWA-style; Izmailov et al. 2018)
  llrd      lesson + layer-wise learning-rate decay 0.8 (Howard & Ruder 2018; Sun et al. 2019)
  reinit    lesson + the top encoder layer re-initialised (Zhang et al. 2021)
  soup      two models of 2 epochs per run (otherwise lesson's settings), with the same initial head
            but their own batch order and dropout, whose weights are averaged (a uniform "model soup",
            Wortsman et al. 2022); a run's training minutes count both models

Target (issue 17): 5 seeds reach a mean of >= 82.0 % accuracy and F1 >= 0.875 on validation with a
standard deviation <= 1.0 point, each run <= 10 minutes of training on 2 CPU cores. Always
answering "paraphrase" gives 68.4 % / 0.812. Writes benchmarks/results/<name>.json.
"""
from __future__ import annotations

import argparse
import re
import time

import bertlab  # noqa: F401  (Keras 2 first)
import numpy as np
import tensorflow as tf

from common import load_average, print_table, write_result

MAJORITY_BASELINE = {"dev_accuracy": 0.684, "dev_f1": 0.812}  # always "paraphrase", MRPC validation
TARGET = {"mean_accuracy": 0.82, "mean_f1": 0.875, "std_accuracy_points": 1.0, "train_minutes_per_run": 10.0}

LESSON = dict(epochs=3, lr=1e-4, batch_size=32, warmup=0.1, average_from=None, llrd=None, reinit_top=0, soup=1)
RECIPES = {
    "lesson": LESSON,
    "mosbach": {**LESSON, "epochs": 5, "lr": 5e-5},
    "average": {**LESSON, "average_from": 0.5},
    "llrd": {**LESSON, "llrd": 0.8},
    "reinit": {**LESSON, "reinit_top": 1},
    "soup": {**LESSON, "soup": 2, "epochs": 2},  # two models of 2 epochs: 4 epochs' training per run
}
RECORDED_RECIPE = "lesson"  # no recipe tried beat it (benchmarks/README.md, issue 17)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", choices=sorted(RECIPES), default=RECORDED_RECIPE)
    p.add_argument("--model", default=None, help="registry name (default: BERTLAB_MODEL or minilm-l6)")
    p.add_argument("--pooling", choices=["mean", "pooled", "cls"], default="mean")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--warmup", type=float, help="warm-up share of all steps")
    p.add_argument("--average-from", type=float, help="average the weights after every step from this share of training on")
    p.add_argument("--also-average", type=float, nargs="*", default=[],
                   help="also score the weights averaged from these shares of training on (diagnostics, same runs)")
    p.add_argument("--llrd", type=float, help="layer-wise learning-rate decay factor (1 = none)")
    p.add_argument("--reinit-top", type=int, help="re-initialise this many top encoder layers")
    p.add_argument("--soup", type=int, help="models trained per run whose weights are averaged")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="one independent run per seed")
    p.add_argument("--train-limit", type=int, default=None, help="train on N pairs only (a smaller run)")
    p.add_argument("--dev-limit", type=int, default=None, help="score on the first N validation pairs only (a smaller run)")
    p.add_argument("--label", default="full", help="recorded with the result: 'full' or what was cut")
    p.add_argument("--name", default="mrpc", help="results file name")
    p.add_argument("--results-dir", default=None, help="where to write <name>.json (default: benchmarks/results)")
    args = p.parse_args(argv)
    for key, value in RECIPES[args.recipe].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    # every share of training from which weights are averaged: the recipe's own and the diagnostic ones
    args.average_shares = sorted({*args.also_average, *([args.average_from] if args.average_from is not None else [])})
    if args.soup < 1 or args.epochs < 1 or not all(0 <= share < 1 for share in args.average_shares):
        p.error("need --soup >= 1, --epochs >= 1 and averaging shares in [0, 1)")
    return args


# --------------------------------------------------------------------------- weight averaging (--average-from)
class WeightAveraging(tf.keras.callbacks.Callback):
    """Uniform average of the trainable weights over the tail of training (SWA-style).

    From training step ``start_step`` on (counted over all epochs, 0-based), the weights after
    every ``every``-th batch are added to a running sum; :meth:`averaged_weights` gives their mean
    and :meth:`apply` writes it into the model (:meth:`restore` puts back the weights it replaced).
    Averaging the last part of a run whose learning rate decays to zero smooths out where the
    final steps happened to land, at no cost at prediction time: stochastic weight averaging,
    Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better Generalization",
    here without its cyclic learning rate; also Kaddour 2022, "Stop Wasting My Time!" (LAWA).

    Raises ``ValueError`` from :meth:`averaged_weights` if no step was averaged (training
    shorter than ``start_step``).
    """

    def __init__(self, start_step: int, every: int = 1):
        super().__init__()
        if start_step < 0 or every < 1:
            raise ValueError(f"Need start_step >= 0 and every >= 1; got {start_step}, {every}.")
        self.start_step, self.every = int(start_step), int(every)

    def on_train_begin(self, logs=None):
        self.step, self.count, self._replaced = 0, 0, None
        variables = self.model.trainable_variables
        self._sums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self._accumulate = tf.function(lambda: [s.assign_add(v) for s, v in zip(self._sums, variables)])

    def on_train_batch_end(self, batch, logs=None):
        if self.step >= self.start_step and (self.step - self.start_step) % self.every == 0:
            self._accumulate()
            self.count += 1
        self.step += 1

    def averaged_weights(self) -> list[np.ndarray]:
        """The mean of the averaged snapshots, one array per trainable variable."""
        if not self.count:
            raise ValueError(f"No weights were averaged: training ran {self.step} steps, averaging starts at step {self.start_step}.")
        return [s.numpy() / self.count for s in self._sums]

    def apply(self) -> None:
        """Write the averaged weights into the model (keeping the current ones for :meth:`restore`)."""
        variables = self.model.trainable_variables
        self._replaced = [v.numpy() for v in variables]
        for variable, value in zip(variables, self.averaged_weights()):
            variable.assign(value)

    def restore(self) -> None:
        """Put back the weights that :meth:`apply` replaced."""
        if self._replaced is None:
            raise ValueError("Nothing to restore: apply() was not called.")
        for variable, value in zip(self.model.trainable_variables, self._replaced):
            variable.assign(value)
        self._replaced = None


# --------------------------------------------------------------------------- recipes
LAYER = re.compile(r"/layer_\._(\d+)/")


def llrd_scale(variable_name: str, num_layers: int, decay: float) -> float:
    """Learning-rate factor of a variable: 1 for the head (and pooler), ``decay**k`` for the k-th encoder
    layer counted from the top (k = 1 for the last layer), ``decay**(num_layers + 1)`` for the embeddings."""
    match = LAYER.search(variable_name)
    if match:
        return decay ** (num_layers - int(match.group(1)))
    if "/embeddings/" in variable_name:
        return decay ** (num_layers + 1)
    return 1.0


def layerwise_adamw(base, num_layers: int, decay: float):
    """``base`` (the package's AdamW) rebuilt so that each variable's step is scaled by :func:`llrd_scale`.

    Adam divides each gradient by its own running scale, so scaling gradients would change nothing:
    the learning rate itself is scaled, per variable, while its update is built (weight decay keeps
    the full rate)."""
    parent = type(base)
    rate = parent.learning_rate

    class LayerwiseAdamW(parent):
        _scale = 1.0

        @property
        def learning_rate(self):
            return rate.fget(self) * self._scale if self._scale != 1.0 else rate.fget(self)

        @learning_rate.setter
        def learning_rate(self, value):
            rate.fset(self, value)

        def update_step(self, gradient, variable):
            self._scale = llrd_scale(variable.name, num_layers, decay)
            try:
                return super().update_step(gradient, variable)
            finally:
                self._scale = 1.0

    config = base.get_config()
    optimizer = LayerwiseAdamW(learning_rate=base._learning_rate, weight_decay=config["weight_decay"], epsilon=config["epsilon"])
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    return optimizer


def reinitialize_top_layers(encoder, count: int) -> None:
    """Give the top ``count`` encoder layers fresh weights the way BERT initialises them (truncated
    normal, std 0.02; biases 0; LayerNorm scale 1, shift 0), as in Zhang et al. 2021."""
    import tensorflow as tf

    for layer in encoder.bert.encoder.layer[-count:] if count else []:
        for variable in layer.weights:
            name = variable.name
            if "LayerNorm" in name:
                variable.assign(tf.ones_like(variable) if "gamma" in name else tf.zeros_like(variable))
            elif "bias" in name:
                variable.assign(tf.zeros_like(variable))
            else:
                # a fresh draw per variable (one Keras initializer object would repeat its values)
                variable.assign(tf.random.truncated_normal(variable.shape, stddev=0.02, dtype=variable.dtype))


# --------------------------------------------------------------------------- one run
def train_model(args, spec, tokenizer, train, head_seed: int, data_seed: int):
    """Build and fine-tune one classifier; return (model, {start share: averaging callback}, TrainResult)."""
    from bertlab import finetuning as ft
    from bertlab.preprocessing import to_tf_dataset

    bertlab.set_seed(head_seed)  # the head's initial weights (and a re-initialised top layer)
    model = ft.build_functional_classifier(spec.name, pooling=args.pooling)
    reinitialize_top_layers(model.encoder, args.reinit_top)
    bertlab.set_seed(data_seed)  # batch order and dropout
    train_ds = to_tf_dataset(list(train.sentence1), list(train.sentence2), train.label.to_numpy(), tokenizer=tokenizer,
                             batch_size=args.batch_size, shuffle=True, seed=data_seed, bucket=True)
    total_steps = ft.count_batches(train_ds) * args.epochs
    optimizer = ft.create_optimizer(args.lr, total_steps, warmup_ratio=args.warmup)
    if args.llrd is not None and args.llrd != 1:
        optimizer = layerwise_adamw(optimizer, len(model.encoder.bert.encoder.layer), args.llrd)
    ft.compile_classifier(model, total_steps=total_steps, optimizer=optimizer)
    averaging = {start: WeightAveraging(int(start * total_steps)) for start in args.average_shares}
    result = ft.train_classifier(model, train_ds, epochs=args.epochs, compile=False, restore_best=False,
                                 callbacks=list(averaging.values()), verbose="compact")
    return model, averaging, result


def score(model, dev, tokenizer, labels):
    from bertlab import finetuning as ft

    probabilities = ft.predict(model, list(dev.sentence1), list(dev.sentence2), tokenizer=tokenizer, batch_size=64).probabilities
    scores = ft.classification_metrics(labels, probabilities.argmax(axis=1))
    return {"dev_accuracy": round(scores["accuracy"], 4), "dev_f1": round(scores["f1"], 4)}, probabilities


def run_one(args, spec, tokenizer, train, dev, seed: int) -> dict:
    """One independent run of the recipe with ``seed``: its validation scores, minutes and probabilities.

    Besides the recipe's own model, the same run's last weights and its weights averaged from each
    ``--also-average`` share are scored too (``variants``): paired comparisons, free of seed noise."""
    import tensorflow as tf

    labels = dev.label.to_numpy()
    ingredients, minutes, variants, history = [], 0.0, [], {}
    for k in range(args.soup):
        model, averaging, result = train_model(args, spec, tokenizer, train, head_seed=seed, data_seed=seed + 1000 * k)
        minutes += result.train_minutes
        history = history or result.history
        scored = {}
        if averaging or args.soup > 1:  # each soup ingredient is scored on its own too
            scored["last"] = score(model, dev, tokenizer, labels)[0]
            for start, callback in averaging.items():
                callback.apply()
                if start != args.average_from:
                    scored[f"average_from_{start:g}"] = score(model, dev, tokenizer, labels)[0]
                    callback.restore()
            if args.average_from is not None:  # the recipe's weights stay in the model
                averaging[args.average_from].apply()
        variants.append(scored)
        ingredients.append([v.numpy() for v in model.trainable_variables])
    if args.soup > 1:
        for variable, *values in zip(model.trainable_variables, *ingredients):
            variable.assign(np.mean(values, axis=0))
    scores, probabilities = score(model, dev, tokenizer, labels)
    tf.keras.backend.clear_session()  # the next run starts from a clean graph
    member = {"seed": seed, **scores, "train_minutes": round(minutes, 3)}
    if any(variants):
        member["variants" if args.soup == 1 else "ingredient_variants"] = variants[0] if args.soup == 1 else variants
    return {"member": member, "probabilities": probabilities, "history": history}


def spread(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max())}


def run(args) -> dict:
    from bertlab import finetuning as ft
    from bertlab.data import load_mrpc
    from bertlab.models import get_spec, load_tokenizer

    spec = get_spec(args.model)
    tokenizer = load_tokenizer(spec.name)
    train, dev = load_mrpc("train"), load_mrpc("validation")
    if args.train_limit:
        train = train.sample(n=min(args.train_limit, len(train)), random_state=0)
    if args.dev_limit:
        dev = dev.head(args.dev_limit)
    load_before = load_average()
    started = time.perf_counter()
    members, probabilities, history, loads = [], [], {}, []
    for seed in args.seeds:
        out = run_one(args, spec, tokenizer, train, dev, seed)
        members.append(out["member"])
        probabilities.append(out["probabilities"])
        history = history or out["history"]
        loads.append(load_average())
        m = out["member"]
        extra = "".join(f"; {name}: {v['dev_accuracy']:.4f} / {v['dev_f1']:.4f}" for name, v in m.get("variants", {}).items())
        print(f"seed {seed}: accuracy {m['dev_accuracy']:.4f}, F1 {m['dev_f1']:.4f}, {m['train_minutes']:.1f} min{extra}", flush=True)
    wall = (time.perf_counter() - started) / 60
    ensemble = ft.classification_metrics(dev.label.to_numpy(), np.mean(probabilities, axis=0).argmax(axis=1))
    accuracy, f1 = spread([m["dev_accuracy"] for m in members]), spread([m["dev_f1"] for m in members])
    minutes = spread([m["train_minutes"] for m in members])
    metrics = {
        "dev_accuracy": accuracy,
        "dev_f1": f1,
        "train_minutes_per_run": minutes,
        "minutes_per_epoch": sum(m["train_minutes"] for m in members) / (len(members) * args.soup * args.epochs),
        "wall_minutes": wall,
        "ensemble_of_the_runs": {"dev_accuracy": ensemble["accuracy"], "dev_f1": ensemble["f1"]},
    }
    names = members[0].get("variants", {}).keys()
    if names:
        metrics["variants"] = {name: {key: spread([m["variants"][name][key] for m in members])
                                      for key in ("dev_accuracy", "dev_f1")} for name in names}
    if "ingredient_variants" in members[0]:  # every soup ingredient on its own, before averaging
        alone = [variant["last"] for m in members for variant in m["ingredient_variants"]]
        metrics["ingredients_alone"] = {key: spread([v[key] for v in alone]) for key in ("dev_accuracy", "dev_f1")}
    met = (accuracy["mean"] >= TARGET["mean_accuracy"] and f1["mean"] >= TARGET["mean_f1"]
           and 100 * accuracy["std"] <= TARGET["std_accuracy_points"] and minutes["max"] <= TARGET["train_minutes_per_run"])
    return {"spec": spec.name, "metrics": metrics, "members": members, "history": history, "target_met": bool(met),
            "load": {"before": load_before, "after_each_run": loads}}


def main(argv=None):
    args = parse(argv)
    out = run(args)
    m = out["metrics"]
    config = {k: v for k, v in vars(args).items() if k not in ("name", "label", "model", "results_dir", "average_shares")}
    path = write_result(args.name, out["spec"], m, directory=args.results_dir, run=args.label, config=config, members=out["members"],
                        target=TARGET, target_met=out["target_met"], majority_baseline=MAJORITY_BASELINE,
                        std="sample standard deviation over the runs (ddof=1)",
                        load_average_1min=out["load"],
                        history_first_run={k: [round(x, 4) for x in v] for k, v in out["history"].items()},
                        notes="2 CPU cores; the load average before and after each run says whether other jobs ran")
    rows = [(f"dev {key} (mean ± sd, min-max)", f"{m[f'dev_{key}']['mean']:.4f} ± {m[f'dev_{key}']['std']:.4f} "
             f"({m[f'dev_{key}']['min']:.4f}-{m[f'dev_{key}']['max']:.4f})") for key in ("accuracy", "f1")]
    for name, variant in [*m.get("variants", {}).items(), *([("ingredients alone", m["ingredients_alone"])]
                                                             if "ingredients_alone" in m else [])]:
        rows += [(f"  same runs, {name}: {key}", f"{variant[f'dev_{key}']['mean']:.4f} ± {variant[f'dev_{key}']['std']:.4f}")
                 for key in ("accuracy", "f1")]
    rows += [
        ("ensemble of the runs", f"{m['ensemble_of_the_runs']['dev_accuracy']:.4f} / {m['ensemble_of_the_runs']['dev_f1']:.4f}"),
        ("train minutes per run (max)", f"{m['train_minutes_per_run']['mean']:.2f} ({m['train_minutes_per_run']['max']:.2f})"),
        ("minutes per epoch", m["minutes_per_epoch"]),
        ("target met", out["target_met"]),
        ("load average before / after runs", f"{out['load']['before']} / {out['load']['after_each_run']}"),
    ]
    print_table(f"MRPC fine-tuning ({out['spec']}, recipe {args.recipe}, seeds {args.seeds}, run: {args.label})", rows)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()

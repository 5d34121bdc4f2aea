"""Tutorial: BERT-style masked language modelling — word pieces, the 80/10/10 masker, fill_mask.

Run it (`--quick` for a smaller smoke run):

    python tutorials/masked_language_model.py

It trains a small BERT through the `bert-mlm` application on The Time Machine (or, when the
book is not available, the generated corpus; said loudly), prints each step and writes
figures to `tutorials/figures/`:

1. Word pieces and sentence pairs: a WordPiece vocabulary (reserved tokens first), the lecture's
   example "Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce" packed as
   [CLS] A [SEP] B [SEP] with segment ids.
2. BERT's masker: 15% of the non-special tokens are selected, 80% -> [MASK], 10% -> a random
   token, 10% kept; measured over the whole training set — `mlm_masking_statistics.png`.
3. Training: loss only at the selected positions, perplexity = exp(mean NLL) per word piece —
   `mlm_training_curve.png`.
4. fill_mask: the top-k candidates for each [MASK] of the lecture's example, from the exported
   SavedModel — `mlm_fill_mask_candidates.png`.
5. Attention: which tokens the [MASK] positions look at (last encoder block, mean over heads)
   — `mlm_attention_map.png`.
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"
SEED_EXAMPLE = "Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce"
BOOK_EXAMPLE = "The Time [MASK] was expounding a recondite matter to us."
# The app's defaults but 80 epochs (the figures were made so; the default is now 120, chosen
# on validation): the dip below the unigram plateau comes late.
FULL = ["--epochs", "80"]
QUICK = ["--quick"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _app():
    from keras_seq.cli import import_application

    return import_application("keras_seq.applications.bert_mlm")


class _KeepModel(keras.callbacks.Callback):
    """Keeps a reference to the trained model (for the attention map)."""

    def on_train_end(self, logs=None):
        self.trained = self.model


def step1_word_pieces(args):
    from keras_seq.data.masked_lm_pipeline import pack_pairs
    from keras_seq.data.word_pieces import make_word_piece_tokenizer, train_word_piece_vocabulary

    print("\n== 1. Word pieces and sentence pairs ==")
    app_args = _app().APPLICATION.config(_app().build_parser().parse_args(args.app_argv))
    splits, info = _app().prepare_data(app_args, log=print)
    train, val = splits["train"], splits["validation"]
    print(f"Data: {info['dataset']} ({info.get('path')}); {len(train)} training / {len(val)} "
          "validation sentences, split by position (90/10).")
    vocab = train_word_piece_vocabulary(train, app_args.vocabulary_size)
    tok = make_word_piece_tokenizer(vocab)
    print(f"WordPiece vocabulary: {len(vocab)} pieces "
          f"(asked {app_args.vocabulary_size}; the learner "
          "keeps pieces seen often enough), lower-cased; reserved ids 0..6 = "
          f"{vocab[:7]}")
    pieces = [vocab[i] for i in tok([SEED_EXAMPLE])[0]]
    print(f"Seed example as word pieces: {pieces}")
    first, second = SEED_EXAMPLE.split("[SEP]")
    ids, seg = pack_pairs(tok, [first], [second], 24)
    ids, seg = ids.numpy()[0], seg.numpy()[0]
    print("Packed as [CLS] A [SEP] B [SEP] (24 slots, 0 = [PAD]):")
    print("  tokens  : " + " ".join(vocab[i] for i in ids if i))
    print("  segments: " + " ".join(str(s) for s, i in zip(seg, ids) if i))
    return app_args, train, vocab, tok


def step2_masker(args, app_args, train, vocab, tok):
    from keras_seq.data.masked_lm_pipeline import masked_lm_dataset, sentence_pairs
    from keras_seq.data.word_pieces import MASK_ID, RESERVED_TOKENS

    print("\n== 2. BERT's masker: 15% selected; 80% [MASK], 10% random, 10% kept ==")
    a, b = sentence_pairs(train)
    ds = masked_lm_dataset(a, b, tok, len(vocab), app_args.sequence_length, 64, shuffle=False,
                           seed=app_args.seed, fixed_masks=True)
    selectable = selected = as_mask = kept = special_hits = 0
    per_row = []
    for x, y, w in ds:
        used = w.numpy() > 0
        shown = np.take_along_axis(x["token_ids"].numpy(), x["mask_positions"].numpy(), 1)
        labels = y.numpy()
        original = x["token_ids"].numpy().copy()
        rows, slots = np.nonzero(used)
        original[rows, x["mask_positions"].numpy()[rows, slots]] = labels[rows, slots]
        selectable += int((original >= len(RESERVED_TOKENS)).sum())  # not [PAD]/[CLS]/[SEP]/..
        selected += int(used.sum())
        as_mask += int((shown[used] == MASK_ID).sum())
        kept += int((shown[used] == labels[used]).sum())
        special_hits += int((labels[used] < len(RESERVED_TOKENS)).sum())
        per_row += list(used.sum(1))
    random = selected - as_mask - kept
    rate = selected / selectable
    print(f"Over {len(a)} training pairs: {selected} of {selectable} ordinary tokens selected "
          f"= {rate:.3f} (target 0.15; per row round(0.15 n), at least 1)")
    print(f"  -> [MASK] {as_mask / selected:.3f}, random {random / selected:.3f}, kept "
          f"{kept / selected:.3f}   (target 0.8 / 0.1 / 0.1); specials selected: {special_hits}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].bar(["[MASK]", "random", "kept"],
                [as_mask / selected, random / selected, kept / selected],
                color=["tab:blue", "tab:orange", "tab:green"])
    for xpos, target in enumerate((0.8, 0.1, 0.1)):
        axes[0].hlines(target, xpos - 0.4, xpos + 0.4, colors="black", linestyles="--")
    axes[0].set_title(f"what the {selected} selected tokens become\n(dashed: 80/10/10 target)")
    axes[0].set_ylabel("share of selected tokens")
    axes[1].hist(per_row, bins=np.arange(0, max(per_row) + 2) - 0.5, color="tab:purple")
    axes[1].set_title(f"selections per pair (overall rate {rate:.3f} of ordinary tokens)")
    axes[1].set_xlabel("selected tokens in a pair")
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "mlm_masking_statistics.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")


def step3_training(args):
    print("\n== 3. Training: the loss only at the selected positions ==")
    print("The encoder reads the corrupted pair; the head runs only at the selected positions:")
    print("    loss = sum_j w_j (-log p(y_j | corrupted pair)) / sum_j w_j,  "
          "perplexity = exp(loss)")
    keep = _KeepModel()
    app_args = _app().build_parser().parse_args(
        args.app_argv + ["--runs-root", args.runs_root, "--verbose", "0",
                         "--sample", SEED_EXAMPLE, "--sample", BOOK_EXAMPLE])
    metrics = _app().run(app_args, extra_callbacks=[keep], log=print)
    history = metrics["history"]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, np.exp(history["loss"]), "o-", label="training (running, dropout on)")
    axes[0].plot(epochs, np.exp(history["val_loss"]), "o-", label="validation")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("masked-token perplexity")
    axes[0].legend()
    axes[1].plot(epochs, history["accuracy"], "o-", label="training")
    axes[1].plot(epochs, history["val_accuracy"], "o-", label="validation")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("masked-token accuracy")
    axes[1].legend()
    fig.suptitle(f"BERT MLM on {metrics['dataset']}: {metrics['vocabulary_size']} word pieces")
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "mlm_training_curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Validation: perplexity {metrics['validation_masked_perplexity']:.2f}, accuracy "
          f"{metrics['validation_masked_accuracy']:.3f} per word piece")
    print(f"Figure: {path}")
    return metrics, keep.trained


def step4_fill_mask(args, metrics):
    from keras_seq.export.bert_mlm_module import fill_mask

    print("\n== 4. fill_mask: top-k candidates per [MASK] (from the exported SavedModel) ==")
    export = pathlib.Path(metrics["run_dir"]) / "export"
    answers = {t: fill_mask(str(export), t, k=5) for t in (SEED_EXAMPLE, BOOK_EXAMPLE)}
    for text, masks in answers.items():
        print(f"  {text!r}")
        for j, cands in enumerate(masks):
            print(f"    [MASK]{j + 1}: " + ", ".join(f"{t} ({p:.3f})" for t, p in cands))
    plt = _pyplot()
    panels = [(t, j, c) for t, masks in answers.items() for j, c in enumerate(masks)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4))
    for ax, (text, j, cands) in zip(np.atleast_1d(axes), panels):
        tokens, probs = zip(*cands)
        ax.barh(range(len(tokens))[::-1], probs, color="tab:blue")
        ax.set_yticks(range(len(tokens))[::-1], tokens)
        short = text if len(text) < 40 else text[:37] + "..."
        ax.set_title(f"[MASK]{j + 1} of\n{short}", fontsize=8)
        ax.set_xlabel("p(piece | text)")
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "mlm_fill_mask_candidates.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")


def step5_attention(args, metrics, model):
    from keras_seq.data.masked_lm_pipeline import pack_pairs
    from keras_seq.data.word_pieces import MASK_ID, load_vocabulary, make_word_piece_tokenizer

    print("\n== 5. Attention: where the [MASK] positions look ==")
    vocab = load_vocabulary(pathlib.Path(metrics["run_dir"]) / "vocabulary.txt")
    tok = make_word_piece_tokenizer(vocab)
    first, second = SEED_EXAMPLE.split("[SEP]")
    ids, seg = pack_pairs(tok, [first], [second], model.sequence_length)
    ids, seg = ids.numpy(), seg.numpy()
    n = int((ids[0] != 0).sum())
    _, maps = model.encode({"token_ids": ids, "segment_ids": seg, "padding_mask": ids != 0},
                           return_attention_scores=True)
    weights = np.asarray(maps[-1])[0].mean(0)[:n, :n]  # last block, mean over heads
    tokens = [vocab[i] for i in ids[0, :n]]
    for q in np.nonzero(ids[0, :n] == MASK_ID)[0]:
        top = np.argsort(-weights[q])[:4]
        print(f"  [MASK] at {q} attends most to: " +
              ", ".join(f"{tokens[k]}@{k} ({weights[q, k]:.2f})" for k in top))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(weights, cmap="viridis")
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(n), tokens, fontsize=8)
    ax.set_xlabel("key (attended token)")
    ax.set_ylabel("query")
    ax.set_title(f"attention of the last encoder block (mean of {model.num_heads} heads)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "mlm_attention_map.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")


def main():
    """Runs the tutorial's steps."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 400 sentences, 1 epoch, a tiny model")
    parser.add_argument("--runs-root", default=None,
                        help="parent of the app's run folder (default: a temporary folder)")
    parser.add_argument("--figures-dir", default=str(FIGURES), help="where the PNGs go")
    args = parser.parse_args()
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    args.runs_root = args.runs_root or tempfile.mkdtemp(prefix="mlm_tutorial_")
    args.app_argv = list(QUICK if args.quick else FULL)
    keras.utils.set_random_seed(1337)
    app_args, train, vocab, tok = step1_word_pieces(args)
    step2_masker(args, app_args, train, vocab, tok)
    metrics, model = step3_training(args)
    step4_fill_mask(args, metrics)
    step5_attention(args, metrics, model)
    print("\nDone.")


if __name__ == "__main__":
    main()

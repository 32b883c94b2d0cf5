"""Turn the embedded model's PyTorch-format files into what the lessons load.

1. a transformers TF checkpoint (``TFBertModel.from_pretrained(folder)``), converted from
   ``model.safetensors`` through NumPy, so that PyTorch is never needed;
2. two SavedModels with the interfaces of TF Hub's BERT models, so the classic
   ``hub.KerasLayer(preprocess)`` / ``hub.KerasLayer(encoder)`` code runs offline unchanged:
   the preprocessor (like ``bert_en_uncased_preprocess``: strings -> ``input_word_ids``,
   ``input_mask``, ``input_type_ids``, plus ``tokenize`` and ``bert_pack_inputs``) and the
   encoder (those inputs -> ``sequence_output``, ``pooled_output``, ``default``,
   ``encoder_outputs``).
Called by :func:`bertlab.models.ensure_built`; the folders land in the cache.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import tensorflow as tf
import tensorflow_text as text

from bertlab.bert_inputs import CLS_ID, HUB_KEYS, PAD_ID, SEP_ID


@contextlib.contextmanager
def quiet_tf_logger():
    """In notebooks TF's logger prints INFO lines ("Assets written to ...") to stdout: keep the build quiet."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def convert_checkpoint(files: Path, destination: Path):
    """safetensors -> NumPy -> TFBertModel -> ``save_pretrained``; returns the TF model."""
    from safetensors.numpy import load_file
    from transformers import BertConfig, TFBertModel
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = BertConfig.from_json_file(files / "config.json")
    model = TFBertModel(config)
    model(model.dummy_inputs)  # create the variables before filling them
    state_dict = load_file(str(files / "model.safetensors"))
    # position_ids is a PyTorch buffer, not a weight; every real weight must be used.
    state_dict.pop("embeddings.position_ids", None)
    _, info = load_pytorch_state_dict_in_tf2_model(model, state_dict, output_loading_info=True, skip_logger_warnings=True)
    problems = {key: value for key, value in info.items() if value}
    if problems:
        raise RuntimeError(f"The embedded weights do not fit TFBertModel: {problems}")
    model.save_pretrained(str(destination))
    return model


class Tokenize(tf.Module):
    """strings [batch] -> word-piece ids, ragged [batch, words, pieces] (TF Hub's ``tokenize``)."""

    def __init__(self, vocab_file: str):
        super().__init__()
        initializer = tf.lookup.TextFileInitializer(
            vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER
        )
        self.vocab_table = tf.lookup.StaticVocabularyTable(initializer, num_oov_buckets=1)
        # lower_case=True also strips accents, as the uncased BERT vocabulary expects.
        self.tokenizer = text.BertTokenizer(self.vocab_table, token_out_type=tf.int64, lower_case=True)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, sentences):
        return tf.cast(self.tokenizer.tokenize(sentences), tf.int32)


def pack_inputs(segments, seq_length):
    """[CLS] a [SEP] (b [SEP]) with round-robin truncation to ``seq_length`` and zero padding."""
    segments = [segment.merge_dims(-2, -1) if segment.shape.rank == 3 else segment for segment in segments]
    trimmed = text.RoundRobinTrimmer(max_seq_length=seq_length - len(segments) - 1).trim(segments)
    word_ids, type_ids = text.combine_segments(trimmed, start_of_sequence_id=CLS_ID, end_of_segment_id=SEP_ID)
    padded_word_ids, mask = text.pad_model_inputs(word_ids, max_seq_length=seq_length, pad_value=PAD_ID)
    padded_type_ids, _ = text.pad_model_inputs(type_ids, max_seq_length=seq_length)
    return {"input_word_ids": padded_word_ids, "input_mask": mask, "input_type_ids": padded_type_ids}


class Preprocessor(tf.Module):
    def __init__(self, vocab_file: str, seq_length: int, max_segments: int = 3):
        super().__init__()
        self.seq_length = seq_length
        self.tokenize = Tokenize(vocab_file)
        # Like TF Hub's: seq_length is an argument (hub.KerasLayer(..., arguments=dict(seq_length=n)))
        # and one concrete function is saved for each number of segments.
        self.bert_pack_inputs = tf.function(pack_inputs)
        pieces = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)
        for count in range(1, max_segments + 1):
            self.bert_pack_inputs.get_concrete_function([pieces] * count, tf.TensorSpec([], tf.int32))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, sentences):
        return pack_inputs([self.tokenize(sentences)], self.seq_length)


def save_preprocessor(vocab_file: Path, destination: Path, seq_length: int = 128) -> None:
    with quiet_tf_logger():
        tf.saved_model.save(Preprocessor(str(vocab_file), seq_length), str(destination))


def encoder_model(bert) -> tf.keras.Model:
    """A Keras model with TF Hub's encoder interface around a transformers ``TFBertModel``."""
    inputs = {name: tf.keras.layers.Input(shape=(None,), dtype=tf.int32, name=name) for name in HUB_KEYS}
    outputs = bert.bert(
        input_ids=inputs["input_word_ids"],
        attention_mask=inputs["input_mask"],
        token_type_ids=inputs["input_type_ids"],
        output_hidden_states=True,
    )
    return tf.keras.Model(
        inputs,
        {
            "sequence_output": outputs.last_hidden_state,
            "pooled_output": outputs.pooler_output,
            "default": outputs.pooler_output,
            # hidden_states[0] is the embedding layer's output; TF Hub lists the transformer blocks only.
            "encoder_outputs": list(outputs.hidden_states[1:]),
        },
        name="bert_encoder",
    )


def save_encoder(bert, destination: Path) -> None:
    """Saved from a Keras model, so ``hub.KerasLayer(path, trainable=True)`` can fine-tune it."""
    with quiet_tf_logger():
        tf.saved_model.save(encoder_model(bert), str(destination))

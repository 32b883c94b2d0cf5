"""BERT's input conventions, defined once: the special-token ids, the input names, the longest input.

A leaf module (it imports nothing), so that the tokenizing code (:mod:`bertlab.preprocessing`, which
re-exports these names) and the model-export code (:mod:`bertlab.hub_export`) share them without one
importing the other.

* Special tokens of the uncased BERT WordPiece vocabulary (``vocab.txt`` of bert-base-uncased, which
  the embedded all-MiniLM-L6-v2 ships too): ``[PAD]`` 0, ``[UNK]`` 100, ``[CLS]`` 101, ``[SEP]`` 102,
  ``[MASK]`` 103.
* Input names: TF Hub's BERT encoders take ``input_word_ids``, ``input_mask``, ``input_type_ids``;
  transformers' TF models take ``input_ids``, ``attention_mask``, ``token_type_ids`` (same arrays).
* BERT has learned position embeddings for 512 positions: no input may be longer.
* The course's inputs are padded and cut to :data:`MAX_LENGTH` (128) tokens: the length of TF Hub's BERT
  preprocessor (its ``seq_length`` argument), of the exported models and of the lessons' encoders.
  Sequence length is called ``max_length`` everywhere in bertlab (transformers' term); TF Hub's own
  ``seq_length`` appears only where its API is called.
"""
HUB_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
TRANSFORMERS_KEYS = ("input_ids", "attention_mask", "token_type_ids")
MAX_POSITIONS = 512
MAX_LENGTH = 128
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103

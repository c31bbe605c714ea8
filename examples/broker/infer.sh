#!/bin/sh
# The "inference" step of the worked example: it can read the model weights
# only inside an attested environment, where 'embassy workload run' has
# decrypted them into $EMBASSY_DATASET_DIR (a private folder in memory).
set -eu
w="${EMBASSY_DATASET_DIR:?run me under 'embassy workload run'}"
echo "weights-dir $w"
echo "weights-sha256 $(sha256sum "$w/model.bin" | cut -d' ' -f1)"
# A toy model: the "prediction" is the first 8 bytes of the weights, as hex.
echo "prediction $(od -An -tx1 -N8 "$w/model.bin" | tr -d ' \n')"
